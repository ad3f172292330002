"""Presets and characters as the pages and the API list them, and a character's sheet."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce

from ..models import Anchor, Character, Image, Pose, Preset
from .approval import approved
from .likeness import LIKENESS_COLUMNS, with_likeness


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


def characters_with_poses():
    """characters(), each with its poses read at once: for a page that shows them twice (the
    gallery's filters and counts, the detail page's counts and sheet)."""
    return characters().prefetch_related("poses")


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
