"""Real photographs that ship in installable packages, and the changes a same-person pair
goes through (framing, mirror, grey, rotation, scale): what the thresholds are calibrated on.

Used by bench/likeness_calibration.py (the table in docs/likeness.md) and by the tests that
pin the thresholds. Photos: scikit-image's astronaut (Eileen Collins) and cameraman, and
matplotlib's Grace Hopper; scikit-image's coffee cup has no face.
"""

import importlib.util
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"{package} is not installed (pip install -e '.[test]').")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


PHOTOS = {
    "astronaut": ("skimage", "data", "astronaut.png"),
    "cameraman": ("skimage", "data", "camera.png"),
    "grace_hopper": ("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"),
    "coffee": ("skimage", "data", "coffee.png"),
}
PEOPLE = ["astronaut", "cameraman", "grace_hopper"]


def photo_path(name: str) -> Path:
    package, *parts = PHOTOS[name]
    return _package_file(package, *parts)


def photo(name: str) -> np.ndarray:
    """The photo as an H × W × 3 uint8 RGB array."""
    with PILImage.open(photo_path(name)) as image:
        return np.asarray(image.convert("RGB"))


# Where each person's face is (left, top, width, height in the original photo), for crops.
FACE_BOXES = {
    "astronaut": (173, 68, 107, 107),
    "cameraman": (204, 125, 70, 70),
    "grace_hopper": (159, 121, 211, 211),
}


def _crop_around(rgb: np.ndarray, box, grow: float, shift=(0.0, 0.0)) -> np.ndarray:
    x, y, w, h = box
    cx, cy = x + w / 2 + shift[0] * w, y + h / 2 + shift[1] * h
    half = grow * max(w, h) / 2
    height, width = rgb.shape[:2]
    left, top = max(0, round(cx - half)), max(0, round(cy - half))
    right, bottom = min(width, round(cx + half)), min(height, round(cy + half))
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def _rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def changes(name: str) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name → change of the photo: each result shows the same person."""
    box = FACE_BOXES[name]
    return {
        "head crop": lambda rgb: _crop_around(rgb, box, 1.6),
        "head and shoulders": lambda rgb: _crop_around(rgb, box, 3.0, (0.0, 0.6)),
        "off-centre crop": lambda rgb: _crop_around(rgb, box, 2.4, (0.4, 0.3)),
        "mirror": lambda rgb: np.ascontiguousarray(rgb[:, ::-1]),
        "grey": lambda rgb: np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, 2),
        "rotated 15°": lambda rgb: _rotate(rgb, 15),
        "rotated −20°": lambda rgb: _rotate(rgb, -20),
        "rotated 90°": lambda rgb: np.ascontiguousarray(np.rot90(rgb)),
        "half size": lambda rgb: cv2.resize(
            rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA
        ),
    }


def tiny(name: str, side: int = 40) -> np.ndarray:
    """The photo shrunk until the face is about `side` pixels: too small to judge."""
    rgb = photo(name)
    scale = side / max(FACE_BOXES[name][2:])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    # Back on a canvas of the original size, so the picture is not small, its face is.
    canvas = np.full_like(rgb, 127)
    canvas[: small.shape[0], : small.shape[1]] = small
    return canvas
