"""The one small interface every likeness measure speaks, and what a measure reports.

A measure turns a picture into a vector (`describe`) and two vectors into a distance; its
calibrated thresholds turn a distance into a flag and a 0–1 score. Vectors of different
measures (or of different models of one measure) are never compared: each score row keeps
its measure and model, and references are built from vectors of the same measure and model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from ..models import LikenessFlag


@dataclass(frozen=True)
class Reading:
    """What a measure read from one picture: a vector, or why there is none."""

    flag: str  # LikenessFlag.OK, NO_FACE or TOO_SMALL
    vector: list[float] | None = None
    face_px: int | None = None  # the side of the face box in the picture's own pixels


class Measure(Protocol):
    name: ClassVar[str]  # "face", "figure", "rough"
    model: ClassVar[str]  # the model (or recipe) that made its vectors
    drift: ClassVar[float]  # a distance above this is drift
    other: ClassVar[float | None]  # and above this another subject (None: cannot tell)

    # Offline measures (face, rough) read a picture here; the figure measure's vectors come
    # from a provider call instead (generation.embeddings).
    def describe(self, rgb: np.ndarray, *, original_side: int | None = None) -> Reading: ...


def distance(a, b) -> float:
    """Euclidean distance between two vectors of one measure."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def flag_for(measure: type[Measure] | Measure, value: float) -> str:
    """ok, drift or other_person for a distance, by the measure's calibrated thresholds."""
    if measure.other is not None and value > measure.other:
        return LikenessFlag.OTHER_PERSON
    if value > measure.drift:
        return LikenessFlag.DRIFT
    return LikenessFlag.OK


def score_for(measure: type[Measure] | Measure, value: float) -> float:
    """A 0–1 score, higher is more alike: 1 at distance 0, 0.5 at the measure's
    other-subject threshold (or twice its drift threshold), 0 at twice that."""
    half = measure.other if measure.other is not None else 2 * measure.drift
    return round(max(0.0, 1.0 - value / (2 * half)), 4)
