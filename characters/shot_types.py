"""Close, mid or far: by face size (seed 002), or from the pose and prompt when no face shows.

Seed 002's rule is face area over image area: close > 25 %, mid 8–25 %, far < 8 %, measured
with boxes like OpenCV's Haar cascade draws (forehead to chin, ear to ear). BlazeFace
(characters.faces) draws a much tighter box, so the seed's numbers would call a waist-up photo
"far". The thresholds below are calibrated on known framings of one real face (scikit-image's
astronaut photo, tests/characters/test_shot_types.py): the face filling the frame measures
0.30, head and shoulders 0.14, waist up 0.043, the same in a frame twice as wide 0.008.
Faces scoring under 0.75 are ignored: at 0.5 BlazeFace sees a face in a mannequin's drawn head.
"""

import io
import re
from decimal import Decimal

import numpy as np
from PIL import Image as PILImage

from . import faces
from .models import Image, ShotSource, ShotType

CLOSE_ABOVE = 0.10  # the seed's 25 %, for BlazeFace's boxes
FAR_BELOW = 0.02  # the seed's 8 %

_PROMPT_WORDS = [
    (ShotType.CLOSE, r"close[- ]?up|headshot|head and shoulders|portrait|face"),
    (ShotType.MID, r"waist[- ]up|half[- ]body|upper body|medium shot|mid[- ]shot|torso"),
    (ShotType.FAR, r"full[- ]body|full[- ]length|head to toe|wide shot|whole body|far shot"),
]


def classify(face_ratio: float | None) -> str:
    if face_ratio is None:
        return ShotType.UNKNOWN
    if face_ratio > CLOSE_ABOVE:
        return ShotType.CLOSE
    if face_ratio >= FAR_BELOW:
        return ShotType.MID
    return ShotType.FAR


def face_ratio_of(content: bytes) -> float | None:
    """The largest face's share of a picture given as bytes (decoded small: faces need little)."""
    with PILImage.open(io.BytesIO(content)) as picture:
        picture.draft("RGB", (768, 768))  # JPEGs decode at a fraction of their size
        small = picture.convert("RGB")
    small.thumbnail((768, 768))
    return faces.largest_face_ratio(np.asarray(small))


def from_prompt(prompt: str) -> str:
    """The shot a prompt asks for, or unknown. The first of close, mid, far named wins."""
    text = prompt.lower()
    found = [
        (match.start(), shot)
        for shot, pattern in _PROMPT_WORDS
        if (match := re.search(rf"\b(?:{pattern})\b", text))
    ]
    return min(found)[1] if found else ShotType.UNKNOWN


def assign(image: Image, *, face_ratio: float | None, intent: str = "") -> None:
    """Fill an image's shot type and its source: a face found, else the shot it was made
    for (`intent`, e.g. a gap's), else its prompt (a generated picture of a mannequin has no
    face but was asked for a framing), else unknown."""
    if image.shot_source == ShotSource.HAND:
        return  # a person's choice stands
    image.face_ratio = Decimal(f"{face_ratio:.4f}") if face_ratio is not None else None
    if face_ratio is not None:
        image.shot_type, image.shot_source = classify(face_ratio), ShotSource.DETECTED
        return
    if intent in (ShotType.CLOSE, ShotType.MID, ShotType.FAR):
        image.shot_type, image.shot_source = intent, ShotSource.PROMPT
        return
    prompt = " ".join(filter(None, [image.prompt, image.pose.prompt if image.pose_id else ""]))
    shot = from_prompt(prompt)
    if shot != ShotType.UNKNOWN:
        image.shot_type, image.shot_source = shot, ShotSource.PROMPT
    elif image.kind != Image.Kind.UPLOAD:
        # Anchor poses and their variations are full-body figures unless the prompt says else.
        image.shot_type, image.shot_source = ShotType.FAR, ShotSource.PROMPT
    else:
        image.shot_type, image.shot_source = ShotType.UNKNOWN, ShotSource.NONE
