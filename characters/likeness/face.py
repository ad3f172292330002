"""Face identity, offline: dlib's ResNet face descriptor (128-d), on the face BlazeFace finds.

The model files come from the `face-recognition-models` package, found with
`importlib.util.find_spec` and never imported (its __init__ needs pkg_resources, gone from
Python 3.12's setuptools-less venvs). BlazeFace (characters.faces, the detector ingest
already runs for shot types) gives the box and the eyes and mouth; the face is turned
upright and cut out at a fixed size before dlib's 5-point landmarks and descriptor, so a
12 MP photo costs the same as a thumbnail and a sideways face reads like an upright one.
Thresholds come from docs/likeness.md (real photos, several people).
"""

import importlib.util
import math
import threading
from functools import cache
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from .. import faces
from ..models import LikenessFlag
from .base import Reading

MIN_FACE_PX = 64  # a face under this many pixels (box side, original picture) is too small
DETECT_SIDE = 1024  # BlazeFace runs on a copy this size, as ingest's does
CHIP_FACE = 160  # the face box is brought to this many pixels before landmarks
CHIP = 2 * CHIP_FACE
PAD = faces.PAD  # tight head crops: BlazeFace finds them once the picture has a border
# Lower than ingest's 0.75: a face found here is checked again by its landmarks and only
# compared, never counted; a real but dim or turned face still gets a descriptor.
MIN_SCORE = 0.6
MODEL = "dlib_face_recognition_resnet_model_v1"


@cache
def model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The face identity model is missing: install face-recognition-models "
            "(make install does)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


# dlib's models load once per process and are used by one thread at a time (its networks
# keep working buffers). The descriptor's files take a second or two to load: they are read
# only once a face has been confirmed, so pictures without one never wait for them.
_models: tuple | None = None
_detector = None
_lock = threading.Lock()


def _face_detector():
    global _detector
    if _detector is None:
        import dlib

        _detector = dlib.get_frontal_face_detector()
    return _detector


def _dlib():
    """(landmarks, descriptor), loaded on first use."""
    global _models
    if _models is None:
        import dlib

        _models = (
            dlib.shape_predictor(str(model_dir() / "shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(model_dir() / f"{MODEL}.dat")),
        )
    return _models


def warm() -> None:
    """Load the models now (a worker at start, a test before it times anything)."""
    with _lock:
        _face_detector()
        _dlib()


def _reduced(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale == 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def _candidates(rgb: np.ndarray):
    """Faces BlazeFace finds in `rgb`, largest first, in its pixels: as it is, then with a
    border (tight head crops), then turned a quarter each way (sideways photos)."""
    small, scale = _reduced(rgb, DETECT_SIDE)
    height, width = small.shape[:2]
    pad = round(PAD * max(height, width))
    bordered = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    passes = [
        (small, lambda x, y: (x, y)),
        (bordered, lambda x, y: (x - pad, y - pad)),
        # np.rot90(k=1) maps (x, y) to (y, W - 1 - x); back: x = W - 1 - y', y = x'.
        (np.rot90(small, 1), lambda x, y: (width - 1 - y, x)),
        (np.rot90(small, 3), lambda x, y: (y, height - 1 - x)),
    ]
    for picture, back in passes:
        for face in faces.find_faces(np.ascontiguousarray(picture), min_score=MIN_SCORE):
            yield _mapped(face, back, scale)


def _mapped(face: faces.Face, back, scale: float) -> faces.Face:
    x, y, w, h = face.box
    corners = [back(x, y), back(x + w, y + h)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    side = max(w, h) / scale

    def to_original(point):
        px, py = back(*point)
        return px / scale, py / scale

    return faces.Face(
        box=(min(xs) / scale, min(ys) / scale, side, side),
        score=face.score,
        eyes=(to_original(face.eyes[0]), to_original(face.eyes[1])),
        mouth=to_original(face.mouth),
    )


def upright_chip(rgb: np.ndarray, face: faces.Face) -> np.ndarray:
    """The face cut out, turned so the mouth is below the eyes, its box CHIP_FACE px wide."""
    (ex0, ey0), (ex1, ey1) = face.eyes
    mx, my = face.mouth
    down_x, down_y = mx - (ex0 + ex1) / 2, my - (ey0 + ey1) / 2
    # The angle between "eyes to mouth" and straight down; rotating by it sets the face up.
    angle = math.degrees(math.atan2(down_x, down_y))
    cx, cy = face.centre
    matrix = cv2.getRotationMatrix2D((cx, cy), -angle, CHIP_FACE / face.side)
    matrix[:, 2] += (CHIP / 2 - cx, CHIP / 2 - cy)
    return np.ascontiguousarray(
        cv2.warpAffine(
            rgb, matrix, (CHIP, CHIP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    )


def confirmed_face(rgb: np.ndarray):
    """(face, upright chip, dlib box in the chip) of the largest face dlib's own detector
    confirms on the upright chip, or None. BlazeFace alone also finds cups and clocks."""
    detector = _face_detector()
    for face in _candidates(rgb):
        chip = upright_chip(rgb, face)
        centre = CHIP / 2
        for box in detector(chip, 0):
            middle = box.center()
            if abs(middle.x - centre) < CHIP_FACE / 2 and abs(middle.y - centre) < CHIP_FACE / 2:
                return face, chip, box
    return None


class FaceMeasure:
    name: ClassVar[str] = "face"
    model: ClassVar[str] = MODEL
    drift: ClassVar[float] = 0.45
    other: ClassVar[float | None] = 0.6

    def describe(self, rgb: np.ndarray, *, original_side: int | None = None) -> Reading:
        """The face's 128-d descriptor; no_face or too_small (under 64 px) without one.

        `original_side` is the long side of the picture as stored, when `rgb` is a reduced
        copy: face sizes are judged in the picture's own pixels."""
        with _lock:
            return self._describe(rgb, original_side)

    def _describe(self, rgb: np.ndarray, original_side: int | None) -> Reading:
        found = confirmed_face(rgb)
        if found is None:
            return Reading(LikenessFlag.NO_FACE)
        face, chip, box = found
        factor = (original_side or max(rgb.shape[:2])) / max(rgb.shape[:2])
        face_px = round(face.side * factor)
        if face_px < MIN_FACE_PX:
            return Reading(LikenessFlag.TOO_SMALL, face_px=face_px)
        landmarks, descriptor = _dlib()
        vector = descriptor.compute_face_descriptor(chip, landmarks(chip, box), 0)
        return Reading(
            LikenessFlag.OK, vector=[round(float(v), 6) for v in vector], face_px=face_px
        )
