import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from characters.models import Anchor, Image
from tests.factories import ImageFactory
from tests.generation.conftest import (  # noqa: F401  (shared fixtures of the run machinery)
    clean_cache,
    drive,
    fal,
    replicate_fake,
)


def jpeg_bytes(size=(1600, 1200), color=(200, 120, 60)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def make_image(character, *, kind=Image.Kind.UPLOAD, shot="mid", size=(1600, 1200), **fields):
    return ImageFactory(
        character=character,
        kind=kind,
        shot_type=shot,
        shot_source="detected" if kind == Image.Kind.UPLOAD else "prompt",
        file=ContentFile(jpeg_bytes(size), name="photo.jpg"),
        **fields,
    )


@pytest.fixture
def stocked(character):
    return stock(character)


def stock(character):
    """The fitness character with 8 anchors (far shots), 6 approved variations and 6 approved
    uploads (3 close, 3 mid), 2 unreviewed variations and 1 rejected upload."""
    poses = list(character.poses.all())
    base = character.base_prompt
    for pose in poses:
        image = make_image(
            character,
            kind=Image.Kind.CANDIDATE,
            shot="far",
            pose=pose,
            prompt=f"{base}, {pose.prompt}",
            size=(600, 800),
        )
        Anchor.objects.create(character=character, pose=pose, image=image)
    hanging = character.poses.get(key="hanging")
    for n in range(6):
        make_image(
            character,
            kind=Image.Kind.VARIATION,
            shot="far",
            pose=hanging,
            prompt=f"{base}, pull-up top position number {n}, chin above the bar",
            review=Image.Review.APPROVED,
            size=(600, 800),
        )
    for _ in range(2):
        make_image(character, kind=Image.Kind.VARIATION, pose=hanging, prompt=f"{base}, unseen")
    for shot in ("close", "close", "close", "mid", "mid", "mid"):
        make_image(character, shot=shot, review=Image.Review.APPROVED)
    make_image(character, review=Image.Review.REJECTED)
    return character


@pytest.fixture
def fal_key(settings):
    """A FAL key is set (for pricing; nothing is sent)."""
    settings.FAL_KEY = "key-for-pricing-only"
