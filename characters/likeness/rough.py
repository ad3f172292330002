"""A rough, offline likeness: colour and shape statistics, for the simulator and installs
without a provider key. It tells a red figure from a blue one and a standing pose from a
crouch; it cannot tell two people apart, so it never says "other person". Shown as *rough*.
"""

from typing import ClassVar

import cv2
import numpy as np

from ..models import LikenessFlag
from .base import Reading

SIDE = 96
HUE_BINS, SAT_BINS, VAL_BINS = 8, 4, 4
CELLS, ORIENTATIONS = 4, 8


def _colour(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist(
        [hsv], [0, 1, 2], None, [HUE_BINS, SAT_BINS, VAL_BINS], [0, 180, 0, 256, 0, 256]
    ).ravel()
    return np.sqrt(hist / max(hist.sum(), 1.0))  # Hellinger: Euclidean distance behaves


def _shape(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude, angle = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    bins = (np.mod(angle, 180) / (180 / ORIENTATIONS)).astype(int) % ORIENTATIONS
    cell = SIDE // CELLS
    hist = np.zeros((CELLS, CELLS, ORIENTATIONS), dtype=np.float64)
    for row in range(CELLS):
        for col in range(CELLS):
            window = np.s_[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]
            hist[row, col] = np.bincount(
                bins[window].ravel(), weights=magnitude[window].ravel(), minlength=ORIENTATIONS
            )
    hist = hist.ravel()
    return np.sqrt(hist / max(hist.sum(), 1e-9))


class RoughMeasure:
    name: ClassVar[str] = "rough"
    model: ClassVar[str] = "rough-hsv8x4x4-grad4x4x8-v1"
    drift: ClassVar[float] = 0.55
    other: ClassVar[float | None] = None

    def describe(self, rgb: np.ndarray, *, original_side: int | None = None) -> Reading:
        """Colour histogram and a coarse gradient layout, each half the vector's weight."""
        small = cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        vector = np.concatenate([_colour(small), _shape(small)]) / np.sqrt(2)
        return Reading(LikenessFlag.OK, vector=[round(float(v), 6) for v in vector])
