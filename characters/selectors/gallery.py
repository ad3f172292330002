"""The curation gallery's images: filtered, sorted, with their likeness and cost."""

from django.db.models import F, OuterRef, Q, Subquery

from ..models import Character, Image, LikenessScore
from .approval import is_anchor
from .likeness import with_likeness

GALLERY_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "pose": ("pose__order", "-created_at"),
    "variation": ("variation__order", "-created_at"),
    # Least alike first (outliers to look at), or most alike first; unmeasured last.
    "likeness": (F("likeness_score").asc(nulls_last=True), "-created_at", "-id"),
    "-likeness": (F("likeness_score").desc(nulls_last=True), "-created_at", "-id"),
}


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
            # An ImageField reads its width and height when its row loads: deferred, they
            # cost two queries per tile made from an anchor.
            "source_image__width",
            "source_image__height",
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
