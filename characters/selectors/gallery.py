"""The curation gallery's images: filtered, sorted, with their likeness and cost; a page of
them found by its ids first."""

from django.core.paginator import Page, Paginator
from django.db.models import F, OuterRef, Q, Subquery

from ..models import Character, Image, LikenessScore
from .approval import is_anchor
from .likeness import primary_likeness, with_likeness

GALLERY_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "pose": ("pose__order", "-created_at"),
    "variation": ("variation__order", "-created_at"),
    # Least alike first (outliers to look at), or most alike first; unmeasured last.
    "likeness": (F("primary_likeness__score").asc(nulls_last=True), "-created_at", "-id"),
    "-likeness": (F("primary_likeness__score").desc(nulls_last=True), "-created_at", "-id"),
}


def _gallery_filtered(
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
    """The character's images filtered and sorted, with only the joins the filters and the
    sort need (the tile's columns come on top, from _tile_columns()).

    `review="approved"` includes the anchors (they are kept), as every approved count does.
    """
    images = primary_likeness(Image.objects.filter(character=character)).alias(
        is_anchor=is_anchor()
    )
    if flag:
        images = images.filter(primary_likeness__flag=flag)
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


TILE_COLUMNS = (
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
    # An ImageField reads its width and height when its row loads: deferred, they cost two
    # queries per tile made from an anchor.
    "source_image__width",
    "source_image__height",
    "source_image__pose__label",
    "call__run_id",
    "call__units",
    "call__estimated_cost",
    "call__actual_cost",
)


def _tile_columns(images):
    """`images` with what a gallery tile shows: its labels, source anchor, call (for the
    cost and run), anchor mark and likeness, in the same query."""
    images = (
        images.select_related("pose", "variation", "source_image", "source_image__pose", "call")
        .only(*TILE_COLUMNS)
        .annotate(is_anchor=is_anchor())
    )
    return with_likeness(images).annotate(
        likeness_anchor_distance=Subquery(
            LikenessScore.objects.filter(
                image=OuterRef("pk"), reference__startswith="anchor:"
            ).values("distance")[:1]
        )
    )


def gallery_images(character: Character, **filters):
    """The character's images for the gallery grid: filtered, sorted, only grid columns."""
    return _tile_columns(_gallery_filtered(character, **filters))


def gallery_page(character: Character, *, number, per_page: int, **filters) -> Page:
    """One page of the gallery grid, in two queries however many images there are: the
    page's ids, found by the filters and the sort alone (an index walk for the usual sort),
    then those tiles with everything they show. Joining the tiles' tables before the page is
    cut would join every image of the character."""
    ids = _gallery_filtered(character, **filters).values_list("id", flat=True)
    page = Paginator(ids, per_page).get_page(number)
    page_ids = list(page.object_list)
    tiles = {image.id: image for image in _tile_columns(Image.objects.filter(id__in=page_ids))}
    # An image deleted between the two queries is left out rather than failing the page.
    page.object_list = [tiles[i] for i in page_ids if i in tiles]
    return page


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
