"""Reads shared by views and the API: character lists, the sheet, pipeline progress."""

from dataclasses import dataclass

from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.urls import reverse

from .models import Anchor, Character, Image, LikenessScore, Pose, Preset

# Seed 000: curate 20–30 images for training, every anchor pose represented.
APPROVED_TARGET = (20, 30)


# --- What "approved" means: one definition for every count and filter ---------------------
def is_anchor():
    """True for an image that is the picked anchor of a pose (an annotation expression)."""
    return Exists(Anchor.objects.filter(image=OuterRef("pk")))


def approved(images):
    """Only the approved images of `images`: reviewed as approved, or picked as an anchor."""
    return images.alias(anchor=is_anchor()).filter(Q(review=Image.Review.APPROVED) | Q(anchor=True))


def _count_of(queryset):
    """A subquery counting `queryset` rows per outer character (no join fan-out)."""
    return Coalesce(
        Subquery(
            queryset.order_by().values("character_id").annotate(n=Count("id")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def presets_in_full():
    """Presets with their poses and variation specs, for the API."""
    return Preset.objects.prefetch_related("poses", "variations__anchor_pose")


def presets_for_form():
    """Presets with how many poses and variation specs each brings, for the new-character form."""
    return Preset.objects.annotate(
        pose_count=Count("poses", distinct=True), variation_count=Count("variations", distinct=True)
    )


def characters():
    """Characters, newest first, with their preset: look one up by slug in it."""
    return Character.objects.select_related("preset").order_by("-created_at")


def character_poses(character: Character):
    return character.poses.all()


def character_variations(character: Character):
    """The character's variation specs, in order, with their anchor pose."""
    return character.variations.select_related("anchor_pose")


def character_images(character: Character):
    return Image.objects.filter(character=character)


def images_with_labels():
    """Images with their pose and variation, as the API shows them."""
    return Image.objects.select_related("pose", "variation")


def characters_for_list():
    """Characters with the counts and anchor thumbnails the list page shows."""
    images = Image.objects.filter(character=OuterRef("pk"))
    return (
        Character.objects.select_related("preset", "created_by")
        .annotate(
            pose_count=_count_of(Pose.objects.filter(character=OuterRef("pk"))),
            anchor_count=_count_of(Anchor.objects.filter(character=OuterRef("pk"))),
            image_count=_count_of(images),
            approved_count=_count_of(approved(images)),
        )
        .prefetch_related(
            "poses",
            Prefetch(
                "anchors",
                queryset=Anchor.objects.select_related("image").only(
                    "id",
                    "character_id",
                    "pose_id",
                    "image__file",
                    "image__thumbnail",
                    "image__width",  # the list's <img> sizes: deferred, each was a query
                    "image__height",
                ),
            ),
        )
        .order_by("-created_at")
    )


def sheet_of_listed(character: Character) -> list[tuple[Pose, Image | None]]:
    """The sheet of a character from `characters_for_list()` (uses its prefetched rows)."""
    anchors = {a.pose_id: a.image for a in character.anchors.all()}
    return [(pose, anchors.get(pose.pk)) for pose in character.poses.all()]


def character_sheet(character: Character) -> list[tuple[Pose, Image | None]]:
    """Each pose of the character with its picked anchor image, or None."""
    rows = with_likeness(
        Anchor.objects.filter(character=character).select_related(
            "image__pose",
            "image__variation",  # as images_with_labels(): the API shows both
        ),
        image="image__",
    )
    anchors = {}
    for anchor in rows:
        for column in LIKENESS_COLUMNS:  # the image carries its likeness: no query per anchor
            setattr(anchor.image, f"likeness_{column}", getattr(anchor, f"likeness_{column}"))
        anchors[anchor.pose_id] = anchor.image
    return [(pose, anchors.get(pose.pk)) for pose in character.poses.all()]


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # "done", "current" or "todo"
    summary: str
    url: str | None = None  # None: the step has no page yet, so it is never offered
    next_label: str = ""


def _step_urls(character: Character) -> dict[str, str | None]:
    slug = [character.slug]
    return {
        "anchors": reverse("characters:anchors", args=slug),
        "variations": character.get_absolute_url() + "#variations",
        "curate": reverse("characters:gallery", args=slug),
        "dataset": reverse("datasets:character", args=slug),
        "train": reverse("training:character", args=slug),
        "reference_set": _reference_set_url(character),
        "pin": reverse("training:pin_edit", args=slug),
    }


def _reference_set_url(character: Character) -> str:
    """The newest usable version's page (its reference set and Approve), else training."""
    lora = character.loras.filter(status__in=["ready", "approved"]).order_by("-version").first()
    if lora is not None:
        return reverse("training:lora_detail", args=[lora.id])
    return reverse("training:character", args=[character.slug])


def step_url(character: Character, key: str) -> str | None:
    """The page of one pipeline step, or None while that step has no page."""
    return _step_urls(character)[key]


STEPS = [
    ("anchors", "Character sheet", "Next: pick the anchors"),
    ("variations", "Variations", "Next: variations"),
    ("curate", "Curate", "Next: review the images"),
    ("dataset", "Dataset", "Next: build the training set"),
    ("train", "Train", "Next: train the LoRA"),
    ("reference_set", "Reference set", "Next: the reference set"),
    ("pin", "Pin", "Next: pin the character"),
]


def pipeline_progress(character: Character) -> list[Step]:
    """Where the character stands on the seven steps of the pipeline, each with its page."""
    images = character.images.aggregate(
        candidates=Count("id", filter=Q(kind=Image.Kind.CANDIDATE)),
        variations=Count("id", filter=Q(kind=Image.Kind.VARIATION)),
        references=Count("id", filter=Q(kind=Image.Kind.REFERENCE)),
    )
    approved_count = approved(character.images.all()).count()
    poses = character.poses.count()
    anchors = character.anchors.count()
    specs = character.variations.count()
    exports = character.datasets.filter(exports__status="ready").count()
    job = character.training_jobs.order_by("-created_at").first()
    # Training is done once it made a LoRA, whatever has become of it since (approved, retired).
    loras = character.loras.aggregate(
        trained=Count("id", filter=Q(status__in=["ready", "approved", "retired"])),
        ready=Count("id", filter=Q(status="ready")),
        approved=Count("id", filter=Q(status="approved")),
    )
    pins = character.pins.count()
    low, high = APPROVED_TARGET

    done = [
        poses > 0 and anchors == poses,
        images["variations"] > 0,
        approved_count >= low,
        exports > 0,
        loras["trained"] > 0,
        # A version is approved on its LoRA page, after its reference set has been judged.
        loras["approved"] > 0,
        pins > 0,
    ]
    trained = ", ".join(
        f"{n} {word}"
        for n, word in ((loras["ready"], "ready"), (loras["approved"], "approved"))
        if n
    )
    if images["references"] == 0:
        reference_summary = "No reference set yet"
    else:
        reference_summary = f"{_plural(images['references'], 'reference image')}"
        reference_summary += (
            f" · {_plural(loras['approved'], 'version')} approved"
            if loras["approved"]
            else " · approve a version on its LoRA page"
        )
    summaries = [
        f"{anchors} of {poses} anchors picked · {_plural(images['candidates'], 'candidate')}",
        f"{_plural(images['variations'], 'variation image')} from {_plural(specs, 'spec')}",
        f"{approved_count} approved (target {low}–{high})",
        f"{_plural(exports, 'training set')} exported",
        (f"Last job {job.get_status_display().lower()}" if job else "No training yet")
        + (f" · LoRA {trained}" if trained else ""),
        reference_summary,
        f"Pinned: version {pins}" if pins else "Not pinned",
    ]
    urls = _step_urls(character)
    current = next((i for i, d in enumerate(done) if not d), None)
    return [
        Step(
            key=key,
            label=label,
            state="done" if done[i] else ("current" if i == current else "todo"),
            summary=summaries[i],
            url=urls[key],
            next_label=next_label,
        )
        for i, (key, label, next_label) in enumerate(STEPS)
    ]


def next_step(steps: list[Step]) -> Step | None:
    """The step to offer as the primary action: the current one, if it has a page."""
    current = next((s for s in steps if s.state == "current"), None)
    return current if current and current.url else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- Curation ----------------------------------------------------------------------------
GALLERY_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "pose": ("pose__order", "-created_at"),
    "variation": ("variation__order", "-created_at"),
    # Least alike first (outliers to look at), or most alike first; unmeasured last.
    "likeness": (F("likeness_score").asc(nulls_last=True), "-created_at", "-id"),
    "-likeness": (F("likeness_score").desc(nulls_last=True), "-created_at", "-id"),
}
LIKENESS_COLUMNS = ("measure", "model", "score", "distance", "reference", "flag")


def with_likeness(rows, *, image: str = ""):
    """`rows` (images, or rows with an image at path `image`, e.g. "image__") with the
    image's shown likeness (its primary score row) as likeness_* columns: one join, no
    query per row."""
    relation = f"{image}likeness_scores"
    rows = rows.annotate(
        primary_likeness=FilteredRelation(relation, condition=Q(**{f"{relation}__primary": True}))
    )
    return rows.annotate(
        **{f"likeness_{column}": F(f"primary_likeness__{column}") for column in LIKENESS_COLUMNS}
    )


def likeness_of(image: Image) -> dict | None:
    """An image's likeness as the API shows it (measure, score, distance, reference, flag),
    from with_likeness() columns when the image came through it, else from its row."""
    if hasattr(image, "likeness_measure"):
        values = {column: getattr(image, f"likeness_{column}") for column in LIKENESS_COLUMNS}
    else:
        row = image.likeness_scores.filter(primary=True).values(*LIKENESS_COLUMNS).first()
        values = row or {"measure": None}
    if values["measure"] is None:
        return None
    values["flag"] = values["flag"] or None
    values["reference"] = None if values["reference"] == "none" else values["reference"]
    return values


def likeness_scores_by_image(image_ids) -> dict[int, list[dict]]:
    """Image id → all its scores as plain data (the shown one first), in one query."""
    rows = LikenessScore.objects.filter(image_id__in=list(image_ids)).order_by(
        "image_id", "-primary", "reference"
    )
    found: dict[int, list[dict]] = {}
    for row in rows.values("image_id", "primary", *LIKENESS_COLUMNS):
        image_id = row.pop("image_id")
        row["flag"] = row["flag"] or None
        found.setdefault(image_id, []).append(row)
    return found


def gallery_images(
    character: Character,
    *,
    kind: str | None = None,
    pose: str | None = None,
    variation: str | None = None,
    review: str | None = None,
    starred: bool | None = None,
    run: int | None = None,
    flag: str | None = None,
    sort: str = "newest",
):
    """The character's images for the gallery grid: filtered, sorted, only grid columns.

    `review="approved"` includes the anchors (they are kept), as every approved count does.
    """
    images = (
        Image.objects.filter(character=character)
        .select_related("pose", "variation", "source_image", "source_image__pose", "call")
        .only(
            "id",
            "character_id",
            "kind",
            "review",
            "starred",
            "file",
            "thumbnail",
            "width",
            "height",
            "created_at",
            "prompt",
            "seed",
            "strength",
            "warnings",
            "pose__label",
            "pose__key",
            "pose__order",
            "variation__label",
            "variation__key",
            "variation__order",
            "source_image__file",
            "source_image__thumbnail",
            "source_image__pose__label",
            "call__run_id",
            "call__units",
            "call__estimated_cost",
            "call__actual_cost",
        )
        .annotate(is_anchor=is_anchor())
    )
    images = with_likeness(images).annotate(
        likeness_anchor_distance=Subquery(
            LikenessScore.objects.filter(
                image=OuterRef("pk"), reference__startswith="anchor:"
            ).values("distance")[:1]
        )
    )
    if flag:
        images = images.filter(likeness_flag=flag)
    if kind:
        images = images.filter(kind=kind)
    if pose:
        images = images.filter(pose__key=pose)
    if variation:
        images = images.filter(variation__key=variation)
    if review == Image.Review.APPROVED:
        images = images.filter(Q(review=review) | Q(is_anchor=True))
    elif review:
        images = images.filter(review=review, is_anchor=False)
    if starred is not None:
        images = images.filter(starred=starred)
    if run:
        images = images.filter(call__run_id=run)
    return images.order_by(*GALLERY_SORTS.get(sort, GALLERY_SORTS["newest"]))


def image_cost(image: Image):
    """What one image cost: its call's cost shared by the images the call asked for."""
    call = image.call
    if call is None or not call.units:
        return None
    cost = call.actual_cost if call.actual_cost is not None else call.estimated_cost
    return cost / call.units


def gallery_images_in_full(character: Character, **filters):
    """The gallery's images with every column and their call, as the API lists them."""
    return gallery_images(character, **filters).select_related("call").defer(None)


@dataclass(frozen=True)
class PoseCount:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class CurationCounts:
    approved: int  # approved images, the picked anchors counted in
    rejected: int
    unreviewed: int
    total: int
    poses: list[PoseCount]
    target: tuple[int, int] = APPROVED_TARGET

    @property
    def missing_poses(self) -> list[str]:
        return [p.label for p in self.poses if p.count == 0]

    @property
    def min_per_pose(self) -> int:
        """A balanced set: at least an even share of the low target per pose (and 2)."""
        return max(2, self.target[0] // max(len(self.poses), 1))

    @property
    def thin_poses(self) -> list[PoseCount]:
        """Represented, but with fewer approved images than a balanced set needs."""
        return [p for p in self.poses if 0 < p.count < self.min_per_pose]

    @property
    def heavy_poses(self) -> list[PoseCount]:
        """Poses holding more than a third of the approved images (with 3+ poses)."""
        if len(self.poses) < 3 or self.approved < 6:
            return []
        return [p for p in self.poses if p.count * 3 > self.approved]

    @property
    def balanced(self) -> bool:
        return not (self.missing_poses or self.thin_poses or self.heavy_poses)

    @property
    def advice(self) -> str:
        low, high = self.target
        if self.approved < low:
            advice = f"Approve {low - self.approved} more to reach {low}."
        elif self.approved > high:
            advice = f"{self.approved - high} over the {high} target: keep the most varied."
        elif self.balanced:
            advice = f"Within the {low}–{high} target, every pose represented."
        else:
            advice = f"Within the {low}–{high} target, but unbalanced."
        if self.missing_poses:
            advice += f" Not represented yet: {', '.join(self.missing_poses)}."
        if self.thin_poses:
            thin = ", ".join(f"{p.label} ({p.count})" for p in self.thin_poses)
            advice += f" Too few approved: {thin}; aim for {self.min_per_pose}+ each."
        if self.heavy_poses:
            heavy = ", ".join(f"{p.label} ({p.count})" for p in self.heavy_poses)
            advice += f" The set leans on {heavy}: approve other poses rather than more of these."
        return advice


def curation_counts(character: Character) -> CurationCounts:
    """Approved images against the 20–30 target, every pose represented; anchors count in."""
    images = Image.objects.filter(character=character)
    kept_ids = approved(images).values("id")
    # A candidate of a pose whose anchor is picked lost to it: nothing is left to review.
    lost_ids = images.filter(kind=Image.Kind.CANDIDATE, pose__anchors__isnull=False).values("id")
    totals = images.aggregate(
        total=Count("id"),
        approved=Count("id", filter=Q(id__in=kept_ids)),
        rejected=Count("id", filter=Q(review=Image.Review.REJECTED) & ~Q(id__in=kept_ids)),
        unreviewed=Count(
            "id",
            filter=Q(review=Image.Review.UNREVIEWED) & ~Q(id__in=kept_ids) & ~Q(id__in=lost_ids),
        ),
    )
    per_pose = dict(
        Image.objects.filter(id__in=kept_ids, pose__isnull=False)
        .values_list("pose_id")
        .annotate(n=Count("id"))
    )
    poses = [PoseCount(p.key, p.label, per_pose.get(p.id, 0)) for p in character.poses.all()]
    return CurationCounts(
        approved=totals["approved"],
        rejected=totals["rejected"],
        unreviewed=totals["unreviewed"],
        total=totals["total"],
        poses=poses,
    )


@dataclass(frozen=True)
class SpecRow:
    """A variation spec with what it already has, for the spec table."""

    spec: object
    generated: int
    approved: int
    in_flight: int
    failed: int

    @property
    def missing(self) -> bool:
        """Nothing usable yet: no image that is not rejected, and nothing on its way."""
        return self.generated == 0 and not self.in_flight

    @property
    def checked(self) -> bool:
        """Ticked by default: missing, and not just failed (that is retried from its run)."""
        return self.missing and not self.failed


def variation_rows(character: Character) -> list[SpecRow]:
    """Every variation spec with its generated, approved, in-flight and failed counts."""
    from generation.models import ProviderCall

    images = Image.objects.filter(character=character, variation__isnull=False)
    generated = dict(images.values_list("variation_id").annotate(n=Count("id")))
    kept = dict(approved(images).values_list("variation_id").annotate(n=Count("id")))
    calls = ProviderCall.objects.filter(
        run__character=character, run__kind="variations"
    ).values_list("status", "context__image__variation_id")
    in_flight: dict[int, int] = {}
    failed: dict[int, int] = {}
    for status, variation_id in calls:
        if status in (ProviderCall.Status.FAILED, ProviderCall.Status.UNKNOWN):
            failed[variation_id] = failed.get(variation_id, 0) + 1
        elif status not in ProviderCall.TERMINAL:
            in_flight[variation_id] = in_flight.get(variation_id, 0) + 1
    return [
        SpecRow(
            spec=v,
            generated=generated.get(v.id, 0),
            approved=kept.get(v.id, 0),
            in_flight=in_flight.get(v.id, 0),
            failed=failed.get(v.id, 0) if not generated.get(v.id) else 0,
        )
        for v in character.variations.select_related("anchor_pose")
    ]
