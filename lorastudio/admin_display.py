"""Small display helpers the admin pages share."""

import json

from django.utils.html import format_html


def thumbnail_html(image, size: int = 64):
    if image is None or not image.file:
        return "—"
    source = image.thumbnail if image.thumbnail else image.file
    return format_html(
        '<img src="{}" width="{}" height="{}" alt="">',
        source.url,
        size,
        size,
    )


def pretty_json(value):
    return format_html(
        "<pre>{}</pre>",
        json.dumps(value, indent=2, sort_keys=True, default=str),
    )
