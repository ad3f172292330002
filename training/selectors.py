"""Reads shared by the training pages and the API: jobs, versions, reference sets, the
comparison grid, pins and lineage."""

from dataclasses import dataclass, field

from django.db.models import F, Prefetch, Window
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import RowNumber

from characters.models import Character, Image
from datasets.models import DatasetExport
from generation.models import GenerationRun
from generation.runs import REFERENCE_SHOTS
from lorastudio import labels

from .loss_curve import LossCurve, loss_curve
from .models import LoraModel, Pin, TrainingJob, WebhookDelivery, WebhookEndpoint
from .progress import loss_points

SHOTS = [shot for shot, _ in REFERENCE_SHOTS]


def exports():
    return DatasetExport.objects.select_related("dataset__character")


def jobs_list(*, character: Character | None = None):
    jobs = TrainingJob.objects.select_related(
        "character", "export__dataset", "lora", "call"
    ).prefetch_related("samples")
    if character is not None:
        jobs = jobs.filter(character=character)
    return jobs.order_by("-created_at")


def job_detail(job_id: int) -> TrainingJob:
    return TrainingJob.objects.select_related(
        "character", "export__dataset", "call", "created_by", "lora"
    ).get(id=job_id)


def sample_rows(job: TrainingJob) -> list[tuple[int, list]]:
    """The job's samples by step, newest first: each step with its image per reference shot."""
    by_step: dict[int, dict] = {}
    for sample in job.samples.all():
        by_step.setdefault(sample.step, {})[sample.shot] = sample
    return [
        (step, [(shot_label(shot), by_step[step].get(shot)) for shot in SHOTS])
        for step in sorted(by_step, reverse=True)
    ]


def loss_of(job: TrainingJob) -> list[tuple[int, float]]:
    """(step, loss) points, where the trainer's log lines carry the loss."""
    return loss_points(job.logs, total_steps=job.steps)


def loss_curve_of(job: TrainingJob) -> LossCurve | None:
    """The loss curve, where the trainer's log lines carry the loss."""
    return loss_curve(loss_of(job), steps=job.steps)


def loras():
    return LoraModel.objects.select_related("character", "training_job", "export__dataset")


def loras_of(character: Character):
    return loras().filter(character=character).order_by("-version")


def lora_of_job(job: TrainingJob) -> LoraModel | None:
    """The job's LoRA: no query when the job came with it (select_related("lora"))."""
    try:
        return job.lora
    except LoraModel.DoesNotExist:
        return None


def reference_images(lora: LoraModel):
    """Every reference image rendered with `lora`, newest first."""
    return (
        Image.objects.filter(
            character_id=lora.character_id,
            kind=Image.Kind.REFERENCE,
            call__context__image__lora_id=lora.id,
        )
        .select_related("call")
        .order_by("-created_at", "-id")
    )


def loras_with_reference_images(character: Character) -> set[int]:
    """Ids of `character`'s versions that have a reference image to be judged by (one query)."""
    ids = (
        Image.objects.filter(character=character, kind=Image.Kind.REFERENCE)
        .values_list(KeyTextTransform("lora_id", KeyTransform("image", "call__context")), flat=True)
        .distinct()
    )
    return {int(value) for value in ids if value and value.isdigit()}


def shot_label(shot: str) -> str:
    return labels.label(shot).capitalize()


def shot_of(image: Image) -> str:
    return ((image.call.context or {}).get("image") or {}).get("shot", "") if image.call else ""


@dataclass
class ReferenceSet:
    """The newest image of each standard shot for one LoRA version on one provider."""

    lora: LoraModel
    provider: str
    shots: dict[str, Image] = field(default_factory=dict)

    @property
    def ordered(self) -> list[tuple[str, str, Image | None]]:
        return [(shot, shot_label(shot), self.shots.get(shot)) for shot in SHOTS]

    @property
    def label(self) -> str:
        return f"v{self.lora.version} · {self.provider}"


def reference_sets(lora: LoraModel, images=None) -> list[ReferenceSet]:
    """`lora`'s reference sets, one per provider; from `images` (newest first) when given."""
    by_provider: dict[str, ReferenceSet] = {}
    for image in reference_images(lora) if images is None else images:
        provider = image.call.provider if image.call else "?"
        current = by_provider.setdefault(provider, ReferenceSet(lora=lora, provider=provider))
        current.shots.setdefault(shot_of(image), image)
    return list(by_provider.values())


def comparison(character: Character) -> list[ReferenceSet]:
    """Columns for comparing versions: each version's suite on each provider it ran on."""
    versions = list(
        loras_of(character)
        .select_related("training_job", "export")
        .exclude(status=LoraModel.Status.FAILED)
        .order_by("version")
    )
    images_of: dict[int, list[Image]] = {lora.id: [] for lora in versions}
    references = (  # every version's images in one query
        Image.objects.filter(
            character_id=character.id,
            kind=Image.Kind.REFERENCE,
            call__context__image__lora_id__in=list(images_of),
        )
        .select_related("call")
        .order_by("-created_at", "-id")
    )
    for image in references:
        images_of[image.call.context["image"]["lora_id"]].append(image)
    columns = []
    for lora in versions:
        columns.extend(reference_sets(lora, images_of[lora.id]))
    return columns


# What a comparison column was made with: (label, how to read it from a column).
_SETTINGS = [
    ("Rendered on", lambda c: c.provider),
    ("LoRA scale", lambda c: _scale_of(c)),
    (
        "Trained on",
        lambda c: c.lora.training_job.get_provider_display() if c.lora.training_job else None,
    ),
    ("Preset", lambda c: c.lora.training_job.preset if c.lora.training_job else None),
    ("Images", lambda c: c.lora.export.image_count if c.lora.export else None),
    ("Steps", lambda c: c.lora.training_job.steps if c.lora.training_job else None),
    ("Learning rate", lambda c: _learning_rate_of(c)),
    ("Rank", lambda c: c.lora.training_job.rank if c.lora.training_job else None),
    ("Resolution", lambda c: c.lora.training_job.resolution if c.lora.training_job else None),
    ("Batch size", lambda c: c.lora.training_job.batch_size if c.lora.training_job else None),
]


def _learning_rate_of(column: ReferenceSet):
    """The learning rate the column's LoRA was trained with; None when it has no job or its
    provider takes no learning rate (fal)."""
    job = column.lora.training_job
    if job is None or job.learning_rate is None:
        return None
    return job.learning_rate.normalize()


def _scale_of(column: ReferenceSet):
    scales = {
        ((image.call.context or {}).get("image") or {}).get("lora_scale")
        for image in column.shots.values()
        if image.call
    }
    scales.discard(None)
    return ", ".join(f"{s:g}" for s in sorted(scales)) or None


def settings_that_differ(columns: list[ReferenceSet]) -> list[tuple[str, list]]:
    """The settings whose values are not the same in every column, each with its values."""
    rows = []
    for label, read in _SETTINGS:
        values = [read(column) for column in columns]
        if len({str(v) for v in values}) > 1:
            rows.append((label, values))
    return rows


def reference_runs(lora: LoraModel):
    return GenerationRun.objects.filter(
        kind=GenerationRun.Kind.REFERENCE_SET, params__lora_id=lora.id
    ).order_by("-created_at")


def pins_of(character: Character):
    return (
        Pin.objects.filter(character=character)
        .select_related("character", "primary_image", "lora", "pinned_by")
        .prefetch_related("references__image")
        .order_by("-version")
    )


def pin_version(character: Character, version: int) -> Pin:
    return pins_of(character).get(version=version)


@dataclass
class Lineage:
    """export → job → LoRA → reference set → pin, as far as it goes."""

    export: object | None = None
    job: TrainingJob | None = None
    lora: LoraModel | None = None
    runs: list = field(default_factory=list)
    pins: list = field(default_factory=list)


def lineage_of_lora(lora: LoraModel) -> Lineage:
    return Lineage(
        export=lora.export,
        job=lora.training_job,
        lora=lora,
        runs=list(reference_runs(lora)[:5]),
        pins=list(lora.pins.order_by("-version")[:5]),
    )


def lineage_of_job(job: TrainingJob) -> Lineage:
    lora = LoraModel.objects.filter(training_job=job).first()
    if lora is not None:
        return lineage_of_lora(lora)
    return Lineage(export=job.export, job=job)


def lineage_of_pin(pin: Pin) -> Lineage:
    if pin.lora is not None:
        lineage = lineage_of_lora(pin.lora)
        lineage.pins = [pin]
        return lineage
    return Lineage(pins=[pin])


@dataclass
class PinSource:
    """A group of images the pin form offers; `folded` groups start closed."""

    title: str
    images: list[Image]
    folded: bool = False


def pin_suite(lora: LoraModel) -> dict[str, Image]:
    """The reference set a pin made from `lora` starts with: the newest image of each shot,
    on the provider the version was trained on when it rendered there (else the newest set)."""
    sets = reference_sets(lora)
    if not sets:
        return {}
    trained_on = lora.training_job.provider if lora.training_job else None
    chosen = next((s for s in sets if s.provider == trained_on), sets[0])
    return {shot: chosen.shots[shot] for shot in SHOTS if shot in chosen.shots}


def approved_lora(character: Character, lora_id: str) -> LoraModel | None:
    """The approved version `lora_id` of the character (from a "Pin with vN" link), or None."""
    if not str(lora_id).isdigit():
        return None
    return loras_of(character).filter(id=int(lora_id), status=LoraModel.Status.APPROVED).first()


def pin_preselection(suite: dict[str, Image]) -> tuple[Image | None, dict[int, str]]:
    """From a version's reference set: the primary (frontal, else the first shot) and the
    other shots as references, each with its shot as role."""
    primary = suite.get("frontal") or next((image for image in suite.values()), None)
    references = {
        image.id: shot for shot, image in suite.items() if primary and image.id != primary.id
    }
    return primary, references


def character_by_slug(slug: str) -> Character | None:
    return Character.objects.filter(slug=slug).first()


def pin_candidates(character: Character, *, suite: dict[str, Image] | None = None):
    """Images a pin may use: the reference sets, the anchors, and the approved gallery. With a
    LoRA's `suite`, its reference set comes first and every other source is folded away.
    Each reference image carries `version`, the LoRA version it was rendered with."""
    base = character.images.exclude(review=Image.Review.REJECTED).select_related("call")
    versions = dict(LoraModel.objects.filter(character=character).values_list("id", "version"))
    references = list(base.filter(kind=Image.Kind.REFERENCE).order_by("-created_at")[:40])
    for image in references:
        image.version = versions.get(_lora_id(image))
    anchors = list(base.filter(anchor_for__isnull=False).distinct()[:20])
    gallery = list(
        base.filter(review=Image.Review.APPROVED)
        .exclude(kind=Image.Kind.REFERENCE)
        .order_by("-starred", "-created_at")[:40]
    )
    if not suite:
        return [
            PinSource("Reference sets", references),
            PinSource("Anchors", anchors),
            PinSource("Gallery (approved)", gallery),
        ]
    chosen = list(suite.values())
    for image in chosen:
        image.version = versions.get(_lora_id(image))
    ids = {image.id for image in chosen}
    version = chosen[0].version if chosen else None
    return [
        PinSource(f"Reference set of v{version}", chosen),
        PinSource("Other reference sets", [i for i in references if i.id not in ids], True),
        PinSource("Anchors", anchors, True),
        PinSource("Gallery (approved)", gallery, True),
    ]


def _lora_id(image: Image) -> int | None:
    return ((image.call.context or {}).get("image") or {}).get("lora_id") if image.call else None


DELIVERIES_PER_ENDPOINT = 20


def endpoints_with_latest_deliveries():
    """Every endpoint, newest first (with deliveries or not), each with its latest deliveries
    prefetched as `latest_deliveries` (one query for all of them)."""
    ranked = WebhookDelivery.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("endpoint_id")], order_by=F("created_at").desc())
    )
    latest = ranked.filter(rank__lte=DELIVERIES_PER_ENDPOINT).order_by("-created_at")
    return WebhookEndpoint.objects.prefetch_related(
        Prefetch("deliveries", queryset=latest, to_attr="latest_deliveries")
    ).order_by("-created_at")


def deliveries_of(endpoint: WebhookEndpoint, limit: int = DELIVERIES_PER_ENDPOINT):
    if hasattr(endpoint, "latest_deliveries"):  # came from endpoints_with_latest_deliveries
        return endpoint.latest_deliveries[:limit]
    return list(endpoint.deliveries.order_by("-created_at")[:limit])


def recent_deliveries(limit: int = 100):
    return WebhookDelivery.objects.select_related("endpoint").order_by("-created_at")[:limit]
