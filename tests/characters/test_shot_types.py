"""Shot types: known framings of one real face, and the prompt when no face shows."""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from characters import faces, shot_types
from characters.likeness import calibration
from characters.models import Image, ShotSource, ShotType


def astronaut() -> PILImage.Image:
    """A real photo with a face, shipped inside scikit-image's wheel (no download)."""
    folder = Path(next(iter(importlib.util.find_spec("skimage").submodule_search_locations)))
    return PILImage.open(folder / "data" / "astronaut.png").convert("RGB")


def framed(picture: PILImage.Image, *, widen: float = 1.0, crop=None) -> np.ndarray:
    if crop:
        picture = picture.crop(crop)
    if widen > 1:
        side = round(max(picture.size) * widen)
        canvas = PILImage.new("RGB", (side, side), (120, 120, 120))
        canvas.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
        picture = canvas
    return np.asarray(picture)


@pytest.mark.parametrize(
    ("framing", "expected"),
    [
        ({"crop": (150, 20, 330, 240)}, ShotType.CLOSE),  # the face fills the frame
        ({"crop": (100, 0, 380, 300)}, ShotType.CLOSE),  # head and shoulders
        ({}, ShotType.MID),  # waist up
        ({"widen": 2.0}, ShotType.FAR),  # the whole figure, small in a wide frame
    ],
)
def test_known_framings_of_a_real_face_get_their_shot_type(framing, expected):
    ratio = faces.largest_face_ratio(framed(astronaut(), **framing))
    assert ratio is not None
    assert shot_types.classify(ratio) == expected


def test_a_picture_without_a_face_has_no_face_ratio():
    assert faces.largest_face_ratio(np.full((300, 400, 3), 200, dtype=np.uint8)) is None


def test_the_face_ratio_scales_with_the_framing():
    near = faces.largest_face_ratio(framed(astronaut()))
    far = faces.largest_face_ratio(framed(astronaut(), widen=2.0))
    assert near / 8 < far < near / 3  # twice as wide a frame: about a quarter of the area


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("close-up portrait, soft light", ShotType.CLOSE),
        ("waist-up, arms crossed", ShotType.MID),
        ("full body, standing, seen from behind", ShotType.FAR),
        ("a quiet afternoon", ShotType.UNKNOWN),
    ],
)
def test_a_prompt_names_its_framing(prompt, expected):
    assert shot_types.from_prompt(prompt) == expected


def test_a_generated_mannequin_without_a_face_takes_its_shot_from_the_prompt(character):
    image = Image(character=character, kind=Image.Kind.VARIATION, prompt="close-up of the head")
    shot_types.assign(image, face_ratio=None)
    assert (image.shot_type, image.shot_source) == (ShotType.CLOSE, ShotSource.PROMPT)

    pose = character.poses.get(key="front")
    candidate = Image(character=character, kind=Image.Kind.CANDIDATE, pose=pose, prompt="x")
    shot_types.assign(candidate, face_ratio=None)
    assert (candidate.shot_type, candidate.shot_source) == (ShotType.FAR, ShotSource.PROMPT)


def test_a_shot_type_set_by_hand_is_kept(character):
    image = Image(
        character=character, kind=Image.Kind.UPLOAD, shot_type="mid", shot_source=ShotSource.HAND
    )
    shot_types.assign(image, face_ratio=0.5)
    assert (image.shot_type, image.shot_source) == (ShotType.MID, ShotSource.HAND)


def _as_uploaded(rgb: np.ndarray) -> np.ndarray:
    """The photo as a phone would send it: 1024 px on its long side, a JPEG."""
    picture = PILImage.fromarray(rgb)
    scale = 1024 / max(picture.size)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=92)
    return np.asarray(PILImage.open(buffer).convert("RGB"))


@pytest.mark.parametrize(
    "photo",
    [
        calibration.changes("astronaut")["head crop"](calibration.photo("astronaut")),
        _as_uploaded(calibration.photo("grace_hopper")),  # a head-and-shoulders portrait
    ],
    ids=["astronaut head crop", "grace hopper portrait"],
)
def test_a_face_filling_much_of_the_frame_is_found_and_is_a_close_up(photo):
    ratio = faces.largest_face_ratio(photo)
    assert ratio is not None, "no face found"
    assert shot_types.classify(ratio) == ShotType.CLOSE
    left, top, right, bottom = faces.largest_face_box(photo)
    assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
