"""The curation gallery's images: filtered, sorted, with their likeness and cost; a page of
them found by its ids first."""

from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Q, Subquery, Value

from ..models import Character, Image, LikenessScore
from .approval import is_anchor
from .curation import CurationCounts
from .gallery_filters import GROUPED_SORTS, counted_apart, gallery_filtered
from .likeness import LIKENESS_COLUMNS, with_likeness

# What a candidate on the anchor board shows: its picture and likeness (an ImageField reads its
# width and height when its row loads: deferred, they would cost two queries per candidate).
CANDIDATE_COLUMNS = ("id", "pose", "file", "thumbnail", "width", "height")


def anchor_candidates(character: Character, *, sort: str):
    """The character's candidates for the anchor board, in the gallery's `sort`."""
    images = gallery_filtered(character, kind=Image.Kind.CANDIDATE, sort=sort)
    return with_likeness(images.only(*CANDIDATE_COLUMNS))


# What a gallery tile shows, as values() reads it: no model instance per image and per
# related row (six for a tile made from an anchor by a call), a third of a page's time.
TILE_VALUES = (
    "id",
    "kind",
    "review",
    "starred",
    "file",
    "thumbnail",
    "prompt",
    "seed",
    "strength",
    "warnings",
    "pose__label",
    "variation__label",
    "source_image",
    "source_image__file",
    "source_image__pose__label",
    "call",
    "call__run_id",
    "call__units",
    "call__estimated_cost",
    "call__actual_cost",
    "is_anchor",
    *(f"likeness_{column}" for column in LIKENESS_COLUMNS),
    "likeness_anchor_distance",
)


class TileRow(dict):
    """One image's TILE_VALUES; read as attributes too, as the likeness filters read an
    image's likeness_* columns."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def tile_rows(images) -> list[TileRow]:
    """The TILE_VALUES of `images` (in their order), for characters.tiles: with the anchor
    mark, the likeness, and the distance from the source anchor."""
    images = with_likeness(images.annotate(is_anchor=is_anchor())).annotate(
        likeness_anchor_distance=Subquery(
            LikenessScore.objects.filter(
                image=OuterRef("pk"), reference__startswith="anchor:"
            ).values("distance")[:1]
        )
    )
    return [TileRow(row) for row in images.values(*TILE_VALUES)]


def tile_row(character: Character, image_id: int) -> TileRow:
    """One image's tile values, as a review answers with its tile."""
    found = tile_rows(Image.objects.filter(character=character, id=image_id))
    if not found:
        raise Image.DoesNotExist(image_id)
    return found[0]


def gallery_page(
    character: Character, *, number, per_page: int, counts: CurationCounts | None = None, **filters
) -> Page:
    """One page of the gallery grid, in three queries however many images there are: how
    many there are, the page's ids, found by the filters and the sort alone (an index walk),
    then those tiles with everything they show. Joining the tiles' tables before the page is
    cut would join every image of the character. How many there are (by pose, sorted by pose)
    comes from the curation `counts` instead, when the page has them and they say it."""
    page = Paginator(_sorted_ids(character, counts=counts, **filters), per_page).get_page(number)
    page.object_list = _rows(list(page.object_list), tile_rows)  # TileRows
    return page


NOT_NARROWING = ("sort", "review")  # the filters the curation counts have numbers for


def _sorted_ids(character: Character, *, counts: CurationCounts | None = None, **filters):
    """The ids of the filtered images in their order, for a paginator: counted in the parts
    of counted_apart() (or taken from `counts` where they say it), sliced from the filters and
    the sort alone."""
    images = gallery_filtered(character, **filters)
    parts = [part.order_by() for part in counted_apart(character, **filters)]
    sort, review = filters.get("sort"), filters.get("review")
    narrowed = any(value is not None for key, value in filters.items() if key not in NOT_NARROWING)
    if narrowed or review not in (None, Image.Review.APPROVED):
        counts = None  # the counts have no numbers for these images
    if sort in GROUPED_SORTS:
        sizes = None
        if counts is not None and sort == "pose":
            by_pose = counts.approved_by_pose if review else counts.images_by_pose
            order = {pose.id: pose.order for pose in character.poses.all()}  # prefetched
            sizes = [(pose_id, order.get(pose_id), n) for pose_id, n in by_pose.items() if n]
        return _GroupedIds(images.order_by(), group=sort, parts=parts, sizes=sizes)
    total = None if counts is None else (counts.approved if review else counts.total)
    return _Ids(images.values_list("id", flat=True), parts=parts, total=total)


def _rows(ids: list[int], read) -> list:
    """The images of `ids` in that order, as `read` reads a queryset of them (one query). An
    image deleted since its id was read is left out rather than failing the page."""
    found = {image.id: image for image in read(Image.objects.filter(id__in=ids))}
    return [found[i] for i in ids if i in found]


class _Ids:
    """The ids of `images` for Paginator: counted as the sum of `parts` (counted_apart()),
    unless their `total` is known already; sliced from `images`."""

    def __init__(self, ids, *, parts, total: int | None = None):
        self.ids, self.parts, self.total = ids, parts, total

    def count(self) -> int:
        if self.total is not None:
            return self.total
        return sum(part.count() for part in self.parts)

    def __getitem__(self, window: slice) -> list[int]:
        return list(self.ids[window])


class _GroupedIds:
    """The ids of `images` in the order of their `group` (a pose, a variation spec): by the
    group's `order`, images without one last, newest first within a group; the order
    GALLERY_SORTS gives, without sorting every image. Paginator counts them from the groups'
    counts (one query over the `parts` of counted_apart()) and reads a page as the slices
    of the groups it spans (one query: each slice a walk down the group's index)."""

    def __init__(self, images, *, group: str, parts, sizes=None):
        """`sizes`: (group id, its order, how many images) of each group, when known already."""
        self.images, self.group, self.parts = images, group, parts
        self._groups = None if sizes is None else self._sized(sizes)

    def groups(self) -> list[tuple[Q, int]]:
        """(which images, how many) of each group, in order. Groups whose order is the
        same are one, as ORDER BY order would mix them."""
        if self._groups is None:
            # Count("*"): from an index alone where one holds the part's filters.
            key = (f"{self.group}_id", f"{self.group}__order")
            first, *others = [part.values_list(*key).annotate(n=Count("*")) for part in self.parts]
            self._groups = self._sized(
                first.union(*others, all=True).order_by() if others else first
            )
        return self._groups

    def _sized(self, rows) -> list[tuple[Q, int]]:
        """The groups from (group id, its order, how many images) rows."""
        by_order: dict = {}
        for group_id, order, n in rows:
            members, total = by_order.get(order, (set(), 0))
            by_order[order] = ({*members, group_id}, total + n)
        return [
            (
                Q(**{f"{self.group}__isnull": True})
                if order is None
                else Q(**{f"{self.group}_id__in": sorted(members)}),
                total,
            )
            for order, (members, total) in sorted(
                by_order.items(), key=lambda item: (item[0] is None, item[0] or 0)
            )
        ]

    def count(self) -> int:
        return sum(total for _, total in self.groups())

    def __getitem__(self, window: slice) -> list[int]:
        start, stop = window.start or 0, window.stop
        slices, first = [], 0
        for rank, (which, total) in enumerate(self.groups()):
            low, high = max(start, first), min(stop, first + total)
            if low < high:
                slices.append(
                    self.images.filter(which)
                    .annotate(group_rank=Value(rank))
                    .order_by("-created_at", "-id")
                    .values_list("id", "group_rank", "created_at")[low - first : high - first]
                )
            first += total
        if not slices:
            return []
        rows = slices[0]
        if len(slices) > 1:
            rows = rows.union(*slices[1:], all=True).order_by("group_rank", "-created_at", "-id")
        return [row[0] for row in rows]


def share_of_call(units, actual_cost, estimated_cost):
    """One image's share of a call for `units` images (its actual cost, else its estimate)."""
    if not units:
        return None
    return (actual_cost if actual_cost is not None else estimated_cost) / units


# What the API shows of an image (characters.api.ImageOut): its own columns, the keys of its
# pose and variation spec, and its likeness; only the ids of its source and call, not their
# rows (nor a call's payloads and logs).
API_COLUMNS = (
    "id",
    "kind",
    "file",
    "thumbnail",
    "width",
    "height",
    "review",
    "starred",
    "caption",
    "prompt",
    "seed",
    "strength",
    "source_image",
    "call",
    "created_at",
    "pose__key",
    "variation__key",
)


def _for_the_api(images):
    return with_likeness(images.select_related("pose", "variation").only(*API_COLUMNS))


class _ApiImages:
    """The gallery's images as the API lists them, as its @paginate reads them (count(), then
    one slice): counted and cut by _sorted_ids(), then the slice's rows."""

    def __init__(self, ids):
        self.ids = ids

    def all(self):
        return self

    def count(self) -> int:
        return self.ids.count()

    def __getitem__(self, window: slice) -> list[Image]:
        return _rows(list(self.ids[window]), _for_the_api)


def gallery_images_for_api(character: Character, **filters) -> _ApiImages:
    """The gallery's images as the API lists them (ImageOut's fields)."""
    return _ApiImages(_sorted_ids(character, **filters))
