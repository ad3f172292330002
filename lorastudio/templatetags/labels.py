"""`{{ value|label }}` on every page (a builtin: no {% load %} needed)."""

from django import template
from django.utils.html import format_html, format_html_join

from lorastudio import labels

register = template.Library()


@register.filter(name="label")
def label(value) -> str:
    return labels.label(value)


@register.filter(name="warning_word")
def warning_word(note) -> str:
    return labels.warning_word(str(note))


@register.filter(name="warning_badges")
def warning_badges(notes) -> str:
    """`{{ image.warnings|warning_badges }}`: ingest's notes on an image as amber badges, each
    with its full sentence as its title, in one span (gallery and dataset tiles)."""
    return format_html(
        '<span class="image-badges">{}</span>',
        format_html_join(
            "",
            '<span class="badge warn" title="{}">{}</span>',
            ((note, labels.warning_word(str(note))) for note in notes or ()),
        ),
    )
