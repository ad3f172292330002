"""`{{ value|label }}` on every page (a builtin: no {% load %} needed)."""

from django import template

from lorastudio import labels

register = template.Library()


@register.filter(name="label")
def label(value) -> str:
    return labels.label(value)


@register.filter(name="warning_word")
def warning_word(note) -> str:
    return labels.warning_word(str(note))
