"""Reads shared by the dataset pages, the API, exports and the command line."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from characters.models import Anchor, Character, Image
from characters.selectors import with_likeness
from generation.models import GenerationRun

from . import captions
from .models import Dataset, DatasetExport, DatasetItem


def datasets_for_list() -> QuerySet[Dataset]:
    """Every dataset, newest first, with its included-item and ready-export counts."""
    return (
        Dataset.objects.select_related("character")
        .annotate(
            item_count=Count("items", filter=Q(items__included=True), distinct=True),
            export_count=Count("exports", filter=Q(exports__status="ready"), distinct=True),
        )
        .order_by("-created_at")
    )


def datasets() -> QuerySet[Dataset]:
    """Datasets with their character, for pages and endpoints that show one."""
    return Dataset.objects.select_related("character")


def dataset_items_by_id() -> QuerySet[DatasetItem]:
    """Items with what a tile or an item endpoint shows (dataset, character, image, pose)."""
    return with_likeness(
        DatasetItem.objects.select_related(
            "dataset__character", "image__pose", "image__variation"
        ).annotate(is_anchor=Exists(Anchor.objects.filter(image=OuterRef("image_id")))),
        image="image__",
    )


def ready_exports(*, character: Character | None = None) -> QuerySet[DatasetExport]:
    """Exports whose zip is ready (to download, or to train from), newest first."""
    exports = DatasetExport.objects.filter(status=DatasetExport.Status.READY).select_related(
        "dataset__character"
    )
    if character is not None:
        exports = exports.filter(dataset__character=character)
    return exports.order_by("-created_at")


def datasets_of(character: Character) -> QuerySet[Dataset]:
    """A character's datasets with their included-item and ready-export counts."""
    return (
        Dataset.objects.filter(character=character)
        .select_related("character")
        .annotate(
            item_count=Count("items", filter=Q(items__included=True), distinct=True),
            export_count=Count("exports", filter=Q(exports__status="ready"), distinct=True),
        )
        .order_by("-created_at")
    )


def dataset_items(
    dataset: Dataset, *, included_only: bool = False, ids: list[int] | None = None
) -> QuerySet[DatasetItem]:
    """Items in order, with what the grid, the report and the export read of their image
    (only the items `ids`, when given)."""
    items = with_likeness(
        dataset.items.select_related("image__pose", "image__variation")
        .annotate(is_anchor=Exists(Anchor.objects.filter(image=OuterRef("image_id"))))
        .order_by("order", "id"),
        image="image__",
    )
    if ids is not None:
        items = items.filter(id__in=ids)
    return items.filter(included=True) if included_only else items


def pose_word(image: Image) -> str:
    return image.pose.label.lower() if image.pose_id else ""


def rendered_caption(dataset: Dataset, item: DatasetItem) -> str:
    """The text a trainer will read for this item."""
    return captions.render(
        dataset.caption_template,
        trigger=dataset.character.trigger_word,
        caption=item.caption,
        pose=pose_word(item.image),
        shot=item.image.shot_type,
    )


@dataclass(frozen=True)
class CaptionWarning:
    item_id: int
    image_id: int
    message: str


def caption_warnings(dataset: Dataset, items=None) -> list[CaptionWarning]:
    """Included items whose caption breaks a rule: trigger not exactly once, no description."""
    trigger = dataset.character.trigger_word
    warnings = []
    for item in items if items is not None else dataset_items(dataset, included_only=True):
        if not item.included:
            continue
        problem = captions.trigger_problem(rendered_caption(dataset, item), trigger)
        if problem:
            warnings.append(
                CaptionWarning(item.id, item.image_id, f"Image #{item.image_id}: {problem}.")
            )
        if not item.caption.strip():
            warnings.append(
                CaptionWarning(
                    item.id,
                    item.image_id,
                    f"Image #{item.image_id} has no caption yet: write one or run captioning.",
                )
            )
    return warnings


@dataclass(frozen=True)
class ExportWarning:
    """Something an export would ship that a trainer learns badly from; ticked to go on."""

    code: str  # empty_captions, trigger, unknown_shots
    message: str
    image_ids: list[int]


def export_warnings(dataset: Dataset, items=None) -> list[ExportWarning]:
    """What to confirm before exporting the included items: empty captions, captions without
    the trigger word exactly once, shot types still unknown."""
    trigger = dataset.character.trigger_word
    items = items if items is not None else dataset_items(dataset, included_only=True)
    empty, trigger_off, other_case, unknown = [], [], [], []
    for item in items:
        if not item.included:
            continue
        if not item.caption.strip():
            empty.append(item.image_id)
        if problem := captions.trigger_problem(rendered_caption(dataset, item), trigger):
            trigger_off.append(item.image_id)
            if "another case" in problem:
                other_case.append(item.image_id)
        if item.image.shot_type in ("", "unknown"):
            unknown.append(item.image_id)
    warnings = []

    def ids(found: list[int]) -> str:
        shown = ", ".join(f"#{i}" for i in found[:6])
        return shown + (f" and {len(found) - 6} more" if len(found) > 6 else "")

    if empty:
        n = len(empty)
        warnings.append(
            ExportWarning(
                "empty_captions",
                f"{n} image{'s have' if n != 1 else ' has'} no caption ({ids(empty)}): "
                f"nothing but the trigger word describes {'them' if n != 1 else 'it'}.",
                empty,
            )
        )
    if trigger_off:
        # One warning for the trigger rule; the captions writing it in another case are named
        # apart, since they look right to a reader while trainers miss them.
        sentences = []
        if other_case:
            n = len(other_case)
            sentences.append(
                f"{n} caption{'s write' if n != 1 else ' writes'} the trigger word “{trigger}” "
                f"in another case ({ids(other_case)}): trainers match it exactly."
            )
        rest = [i for i in trigger_off if i not in other_case]
        if rest:
            n = len(rest)
            sentences.append(
                f"{n} caption{'s' if n != 1 else ''} do{'' if n != 1 else 'es'} not have the "
                f"trigger word “{trigger}” exactly once ({ids(rest)})."
            )
        warnings.append(ExportWarning("trigger", " ".join(sentences), trigger_off))
    if unknown:
        n = len(unknown)
        warnings.append(
            ExportWarning(
                "unknown_shots",
                f"{n} image{'s have' if n != 1 else ' has'} no shot type ({ids(unknown)}): the "
                "balance counts and the export's shots.json leave them out.",
                unknown,
            )
        )
    return warnings


def approved_ids_not_in(dataset: Dataset) -> list[int]:
    return list(approved_not_in(dataset).values_list("id", flat=True))


def approved_not_in(dataset: Dataset) -> QuerySet[Image]:
    """The character's kept images (approved, or anchors) that the dataset does not hold yet."""
    kept = Q(review=Image.Review.APPROVED) | Q(anchor_for__isnull=False)
    return (
        Image.objects.filter(character_id=dataset.character_id)
        .filter(kept)
        .exclude(dataset_items__dataset=dataset)
        .distinct()
    )


@dataclass(frozen=True)
class GapAwaiting:
    """Images a gap run made for this dataset that no one has reviewed yet."""

    run_id: int
    shot: str
    pose_label: str
    count: int

    @property
    def words(self) -> str:
        if self.shot:
            name = {"close": "close-up", "mid": "mid shot", "far": "far shot"}[self.shot]
        else:
            name = f"{self.pose_label} image"
        return f"{self.count} {name}{'s' if self.count != 1 else ''}"


def gaps_awaiting_review(dataset: Dataset) -> list[GapAwaiting]:
    """Per gap run of the dataset, its images still unreviewed (newest run first)."""
    gap_runs = list(
        GenerationRun.objects.filter(
            character_id=dataset.character_id,
            params__dataset_id=dataset.id,
            params__has_key="gap",
        )
        .order_by("-created_at")
        .values_list("id", "params")
    )
    if not gap_runs:
        return []
    waiting = Image.objects.filter(
        call__run_id__in=[run_id for run_id, _ in gap_runs],
        review=Image.Review.UNREVIEWED,
        anchor_for__isnull=True,  # an anchor counts as approved
    ).values_list("call__run_id", "pose__label")
    per_run: dict[int, list[str]] = {}
    for run_id, pose_label in waiting:
        per_run.setdefault(run_id, []).append(pose_label or "")
    return [
        GapAwaiting(run_id, params["gap"].get("shot", ""), per_run[run_id][0], len(per_run[run_id]))
        for run_id, params in gap_runs
        if run_id in per_run
    ]


def uploads_awaiting_review(character: Character) -> QuerySet[Image]:
    """Uploads no one has approved or rejected yet: they stay out of datasets until then."""
    return Image.objects.filter(
        character=character, kind=Image.Kind.UPLOAD, review=Image.Review.UNREVIEWED
    )


def exports_of(dataset: Dataset) -> QuerySet[DatasetExport]:
    return dataset.exports.select_related("created_by").order_by("-created_at")
