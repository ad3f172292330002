"""Likeness you can measure: how alike each image is to its character, by one measure.

    measures (base.Measure)   face (dlib descriptor)  figure (provider embedding)  rough
        │ describe(picture) → vector, or no_face / too_small       (ImageEmbedding rows)
        ▼
    references (the sheet's anchors, per anchor; a pin's primary + references; or, with
        │        neither, the consensus of the character's own images)
        ▼
    scoring (in the worker): distance to a reference → score, flag   (LikenessScore rows)

Everything runs in the worker (characters.tasks), once per image, idempotent, swept up by
a periodic pass; docs/likeness.md has the calibration and the thresholds.
"""

from .face import FaceMeasure
from .rough import RoughMeasure

MEASURES = {FaceMeasure.name: FaceMeasure(), RoughMeasure.name: RoughMeasure()}
# Offline measures every image gets; the figure measure (a provider call) is added per
# character by figure.py when it is asked for.
OFFLINE = (FaceMeasure.name, RoughMeasure.name)


def measure_named(name: str):
    if name not in MEASURES:
        from .figure import FigureMeasure

        MEASURES[FigureMeasure.name] = FigureMeasure()
    return MEASURES[name]
