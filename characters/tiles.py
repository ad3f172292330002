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
from .selectors import image_cost
from .templatetags.likeness import likeness_badge, likeness_text

# As get_kind_display() and get_review_display() give them, without their lookups per call.
KIND_LABELS = dict(Image.Kind.choices)
REVIEW_LABELS = dict(Image.Review.choices)


def gallery_tiles(images) -> list[dict]:
    """The tiles of `images` (from selectors.gallery_page() or gallery_images()); a link to
    a run or a source anchor that several tiles show is made once."""
    links: dict = {}
    return [_tile(image, links) for image in images]


def gallery_tile(image) -> dict:
    """One tile, as a review answers with it."""
    return _tile(image, {})


def _tile(image, links: dict) -> dict:
    pose, variation, source, call = image.pose, image.variation, image.source_image, image.call
    kind_label = KIND_LABELS.get(image.kind, image.kind)
    label = (variation and variation.label) or (pose and pose.label) or kind_label
    id_ = str(image.id)
    tile = {
        "id": id_,
        "review": image.review,
        "is_anchor": image.is_anchor,
        "starred": image.starred,
        "data_review": "anchor" if image.is_anchor else image.review,
        "label": label,
        "data_label": f"{label} · #{id_}",
        "full_url": image.file.url,
        "thumbnail_url": image.thumbnail_url,
        "kind_label": kind_label,
        "review_label": REVIEW_LABELS.get(image.review, image.review),
        "prompt": image.prompt,
        "seed": "" if image.seed is None else str(image.seed),
        "strength": "" if image.strength is None else str(image.strength),
        "cost": _cost(image),
        "likeness_text": likeness_text(image),
        "likeness_badge": likeness_badge(image),
        "badges": warning_badges(image.warnings),
        "source_url": "",
        "source_label": "",
        "run_id": "",
        "run_url": "",
    }
    if source is not None:
        if ("file", source.file.name) not in links:
            links["file", source.file.name] = source.file.url
        tile["source_url"] = links["file", source.file.name]
        tile["source_label"] = f"{(source.pose and source.pose.label) or 'image'} #{source.id}"
    if call is not None:
        if ("run", call.run_id) not in links:
            links["run", call.run_id] = reverse("generation:run_detail", args=[call.run_id])
        tile["run_id"] = str(call.run_id)
        tile["run_url"] = links["run", call.run_id]
    for key, value in tile.items():
        if type(value) is str:  # as the template's escaping writes it; marked values stay
            tile[key] = SafeString(html.escape(value))
    return tile


def _cost(image) -> str:
    """`$0.040`: the image's share of its call's cost, as `floatformat:3` writes it."""
    cost = image_cost(image)
    return "" if cost is None else f"${fixed(cost, 3)}"
