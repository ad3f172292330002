"""`{{ image|likeness_text }}`: an image's likeness in one line, as the gallery's lightbox
shows it. Rendered for each of a page's 60 tiles, so it is Python rather than a template of
a dozen nested conditions."""

from django import template
from django.template.defaultfilters import floatformat

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
        f"{floatformat(image.likeness_score, 2)} ({rough}{measure}; distance "
        f"{floatformat(image.likeness_distance, 2)} from {image.likeness_reference}"
    )
    if image.likeness_anchor_distance is not None:
        text += f", {floatformat(image.likeness_anchor_distance, 2)} from its source anchor"
    text += ")"
    if flag == "other_person":
        text += " · other person?"
    elif flag == "drift":
        text += " · drift"
    return text
