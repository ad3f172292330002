"""An image's likeness as the pages and the API show it: one join, no query per row."""

from django.db.models import F, FilteredRelation, Q

from ..models import Image, LikenessScore

LIKENESS_COLUMNS = ("measure", "model", "score", "distance", "reference", "flag")


def with_likeness(rows, *, image: str = ""):
    """`rows` (images, or rows with an image at path `image`, e.g. "image__") with the
    image's shown likeness (its primary score row) as likeness_* columns: one join, no
    query per row."""
    return primary_likeness(rows, image=image).annotate(
        **{f"likeness_{column}": F(f"primary_likeness__{column}") for column in LIKENESS_COLUMNS}
    )


def primary_likeness(rows, *, image: str = ""):
    """`rows` with `primary_likeness` to filter or sort on: joined only where it is used, and
    the same join however often it is named."""
    relation = f"{image}likeness_scores"
    return rows.alias(
        primary_likeness=FilteredRelation(relation, condition=Q(**{f"{relation}__primary": True}))
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
