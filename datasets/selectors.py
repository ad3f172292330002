"""Reads shared by the dataset pages, the API, exports and the command line."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from characters.models import Anchor, Character, Image
from characters.selectors import with_likeness

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
        DatasetItem.objects.select_related("dataset__character", "image__pose", "image__variation"),
        image="image__",
    )


def exports_ready() -> QuerySet[DatasetExport]:
    return DatasetExport.objects.filter(status=DatasetExport.Status.READY)


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


def dataset_items(dataset: Dataset, *, included_only: bool = False) -> QuerySet[DatasetItem]:
    """Items in order, with what the grid, the report and the export read of their image."""
    items = with_likeness(
        dataset.items.select_related("image__pose", "image__variation")
        .annotate(is_anchor=Exists(Anchor.objects.filter(image=OuterRef("image_id"))))
        .order_by("order", "id"),
        image="image__",
    )
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


def exports_of(dataset: Dataset) -> QuerySet[DatasetExport]:
    return dataset.exports.select_related("created_by").order_by("-created_at")
