"""Whole-figure similarity: an image embedding (CLIP) made by a provider, through the one
ProviderCall machinery (generation.embeddings asks for it and stores the vector here).

Vectors are L2-normalised, so the Euclidean distance is sqrt(2 − 2·cosine). The thresholds
are CLIP-typical (same subject above a cosine of ~0.85, i.e. a distance under ~0.55), not
calibrated here: no key reaches a provider from this machine. docs/likeness.md says so.
"""

from typing import ClassVar

import numpy as np

from ..models import LikenessFlag
from .base import Reading


def normalised(vector) -> list[float]:
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array)) or 1.0
    return [round(float(v), 6) for v in array / norm]


class FigureMeasure:
    name: ClassVar[str] = "figure"
    model: ClassVar[str] = "clip-vit-large-patch14"
    drift: ClassVar[float] = 0.55
    other: ClassVar[float | None] = None  # a whole-figure embedding cannot tell who it is

    def describe(self, rgb: np.ndarray, *, original_side: int | None = None) -> Reading:
        raise NotImplementedError("Figure vectors come from a provider call, not from here.")

    @staticmethod
    def reading(vector) -> Reading:
        return Reading(LikenessFlag.OK, vector=normalised(vector))
