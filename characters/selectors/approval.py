"""What "approved" means: one definition for every count and filter."""

from django.db.models import Exists, OuterRef, Q

from ..models import Anchor, Image

# Seed 000: curate 20–30 images for training, every anchor pose represented.
APPROVED_TARGET = (20, 30)


def is_anchor():
    """True for an image that is the picked anchor of a pose (an annotation expression)."""
    return Exists(Anchor.objects.filter(image=OuterRef("pk")))


def approved_condition() -> Q:
    """Reviewed as approved, or picked as an anchor: on images with an `anchor` alias
    (is_anchor()), as approved() and the curation counts give them."""
    return Q(review=Image.Review.APPROVED) | Q(anchor=True)


def approved(images):
    """Only the approved images of `images`: reviewed as approved, or picked as an anchor."""
    return images.alias(anchor=is_anchor()).filter(approved_condition())
