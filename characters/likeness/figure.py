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
    """Vectors come from a provider call (generation.embeddings), never from a `describe`
    here: nothing in this process can run CLIP."""

    name: ClassVar[str] = "figure"
    # The catalog's endpoint: CLIP ViT-L/14 (768-d) as Replicate's clip-features runs it.
    model: ClassVar[str] = "andreasjansson/clip-features"
    drift: ClassVar[float] = 0.55
    other: ClassVar[float | None] = None  # a whole-figure embedding cannot tell who it is

    @staticmethod
    def reading(vector) -> Reading:
        return Reading(LikenessFlag.OK, vector=normalised(vector))
