"""What a gallery tile shows, worked out in Python once per image: a page has 60 tiles, and
the template engine's lookups, filters and escaping cost several times more per value than
this does. The tile template (characters/gallery.html#tile) only places these values.

A tile is a dict (the template finds a dict's keys at its first try, an object's attributes
after a failed key lookup) of strings, escaped here once (the template passes them as they
are), and flags. Numbers come as strings, so nothing is formatted for the locale either:
ids and seeds in data attributes are machine values.
"""

import html

from django.urls import reverse
from django.utils.safestring import SafeString

from lorastudio.numbers import fixed
from lorastudio.templatetags.labels import warning_badges

from .models import Image
from .selectors import share_of_call
from .templatetags.likeness import likeness_badge, likeness_text

# As get_kind_display() and get_review_display() give them, without their lookups per call.
KIND_LABELS = dict(Image.Kind.choices)
REVIEW_LABELS = dict(Image.Review.choices)
# Where an image's files are (their links are signed by the storage).
_FILES = Image._meta.get_field("file").storage
_THUMBNAILS = Image._meta.get_field("thumbnail").storage


def gallery_tiles(rows) -> list[dict]:
    """The tiles of `rows` (selectors.gallery_page()'s TileRows); a link to a run or a
    source anchor that several tiles show is made once."""
    links: dict = {}
    return [_tile(row, links) for row in rows]


def gallery_tile(row) -> dict:
    """One tile (selectors.tile_row()), as a review answers with it."""
    return _tile(row, {})


def _tile(row, links: dict) -> dict:
    kind_label = KIND_LABELS.get(row["kind"], row["kind"])
    label = row["variation__label"] or row["pose__label"] or kind_label
    id_ = str(row["id"])
    full_url = _FILES.url(row["file"])
    tile = {
        "id": id_,
        "review": row["review"],
        "is_anchor": row["is_anchor"],
        "starred": row["starred"],
        "data_review": "anchor" if row["is_anchor"] else row["review"],
        "label": label,
        "data_label": f"{label} · #{id_}",
        "full_url": full_url,
        # The original until a thumbnail exists (Image.thumbnail_url).
        "thumbnail_url": _THUMBNAILS.url(row["thumbnail"]) if row["thumbnail"] else full_url,
        "kind_label": kind_label,
        "review_label": REVIEW_LABELS.get(row["review"], row["review"]),
        "prompt": row["prompt"],
        "seed": "" if row["seed"] is None else str(row["seed"]),
        "strength": "" if row["strength"] is None else str(row["strength"]),
        "cost": _cost(row),
        "likeness_text": likeness_text(row),
        "likeness_badge": likeness_badge(row),
        "badges": warning_badges(row["warnings"]),
        "source_url": "",
        "source_label": "",
        "run_id": "",
        "run_url": "",
    }
    if row["source_image"] is not None:
        source_file = row["source_image__file"]
        if ("file", source_file) not in links:
            links["file", source_file] = _FILES.url(source_file)
        tile["source_url"] = links["file", source_file]
        tile["source_label"] = (
            f"{row['source_image__pose__label'] or 'image'} #{row['source_image']}"
        )
    if row["call"] is not None:
        run_id = row["call__run_id"]
        if ("run", run_id) not in links:
            links["run", run_id] = reverse("generation:run_detail", args=[run_id])
        tile["run_id"] = str(run_id)
        tile["run_url"] = links["run", run_id]
    for key, value in tile.items():
        if type(value) is str:  # as the template's escaping writes it; marked values stay
            tile[key] = SafeString(html.escape(value))
    return tile


def _cost(row) -> str:
    """`$0.040`: the image's share of its call's cost, as `floatformat:3` writes it."""
    if row["call"] is None:
        return ""
    cost = share_of_call(row["call__units"], row["call__actual_cost"], row["call__estimated_cost"])
    return "" if cost is None else f"${fixed(cost, 3)}"
