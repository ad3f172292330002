"""An image's likeness on its tile: `{{ image|likeness_badge }}` (gallery, anchor board,
dataset items) and `{{ image|likeness_text }}` (the gallery's lightbox). Rendered for every
tile of a page, so they are Python rather than templates of a dozen nested conditions."""

from django import template
from django.utils.html import format_html

from lorastudio.numbers import fixed

register = template.Library()


@register.filter
def likeness_text(image) -> str:
    """The image's shown likeness from selectors.with_likeness() columns: the score and what
    it was measured against, the distance from its source anchor, the flag, or why there is
    no score."""
    measure, flag = image.likeness_measure, image.likeness_flag
    if not measure:
        return "Not measured yet"
    if flag == "no_face":
        return "No face found"
    if flag == "too_small":
        return "Face too small to judge (under 64 px)"
    if image.likeness_score is None:
        return "Nothing to compare with yet"
    rough = "rough, " if measure == "rough" else ""
    text = (
        f"{fixed(image.likeness_score, 2)} ({rough}{measure}; distance "
        f"{fixed(image.likeness_distance, 2)} from {image.likeness_reference}"
    )
    if image.likeness_anchor_distance is not None:
        text += f", {fixed(image.likeness_anchor_distance, 2)} from its source anchor"
    text += ")"
    if flag == "other_person":
        text += " · other person?"
    elif flag == "drift":
        text += " · drift"
    return text


FLAG_WORDS = {"other_person": "Other person?", "no_face": "No face", "too_small": "Face too small"}


@register.filter
def likeness_badge(image) -> str:
    """An image's (or dataset item's) likeness mark from selectors.with_likeness() columns:
    a badge for what needs a look (drift, other person?, no face, face too small), the score
    otherwise; rough scores say so, and the title what it was compared with."""
    measure, flag, reference = image.likeness_measure, image.likeness_flag, image.likeness_reference
    rough = measure == "rough"
    if flag and flag != "ok":
        against = f" vs {reference}" if reference and reference != "none" else ""
        distance = image.likeness_distance
        at = f": distance {fixed(distance, 2)}" if distance is not None else ""
        return format_html(
            '<span class="badge likeness {}" title="Likeness ({}{}){}">{}{}</span>',
            flag,
            measure,
            against,
            at,
            FLAG_WORDS.get(flag, "Drift"),
            " (rough)" if rough else "",
        )
    if image.likeness_score is not None:
        return format_html(
            '<span class="likeness-score small muted" title="Likeness ({} vs {}): 1 is '
            'identical; distance {}">{}{}</span>',
            measure,
            reference,
            fixed(image.likeness_distance, 2),
            "rough " if rough else "",
            fixed(image.likeness_score, 2),
        )
    return ""
