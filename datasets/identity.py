"""Identity in a dataset: how far its images spread from the character, and which ones do
not belong (another person, no face, a face too small to judge, drift), from each image's
likeness score (characters.likeness, measured in the worker)."""

import statistics
from dataclasses import dataclass, field

from characters.models import LikenessFlag

# What an outlier is, most serious first: the balance report lists them in this order.
OUTLIER_FLAGS = [
    LikenessFlag.OTHER_PERSON,
    LikenessFlag.NO_FACE,
    LikenessFlag.TOO_SMALL,
    LikenessFlag.DRIFT,
]
FLAG_REASONS = {
    LikenessFlag.OTHER_PERSON: "looks like another person",
    LikenessFlag.NO_FACE: "no face found",
    LikenessFlag.TOO_SMALL: "face too small to judge",
    LikenessFlag.DRIFT: "drifts from the character",
}


@dataclass
class Outlier:
    item_id: int
    image_id: int
    flag: str
    reason: str
    distance: float | None


@dataclass
class IdentitySpread:
    measure: str | None  # the measure most included images were scored with
    measured: int  # included images with a likeness
    unmeasured: int  # included images not measured yet
    median_distance: float | None
    max_distance: float | None
    spread: float | None  # standard deviation of the distances
    reference: str | None
    outliers: list[Outlier] = field(default_factory=list)


def identity_spread(items) -> IdentitySpread:
    """The spread and outliers of included `items` (from datasets.selectors.dataset_items,
    which carry likeness_* columns)."""
    included = [i for i in items if i.included]
    measured = [i for i in included if getattr(i, "likeness_measure", None)]
    measures = [i.likeness_measure for i in measured]
    measure = max(set(measures), key=measures.count) if measures else None
    distances = [
        i.likeness_distance
        for i in measured
        if i.likeness_measure == measure and i.likeness_distance is not None
    ]
    outliers = [
        Outlier(
            item_id=i.id,
            image_id=i.image_id,
            flag=i.likeness_flag,
            reason=FLAG_REASONS[i.likeness_flag],
            distance=i.likeness_distance,
        )
        for i in measured
        if i.likeness_flag in OUTLIER_FLAGS
    ]
    outliers.sort(key=lambda o: (OUTLIER_FLAGS.index(o.flag), -(o.distance or 0)))
    references = [
        i.likeness_reference for i in measured if i.likeness_reference not in (None, "none")
    ]
    return IdentitySpread(
        measure=measure,
        measured=len(measured),
        unmeasured=len(included) - len(measured),
        median_distance=round(statistics.median(distances), 3) if distances else None,
        max_distance=round(max(distances), 3) if distances else None,
        spread=round(statistics.pstdev(distances), 3) if len(distances) > 1 else None,
        reference=max(set(references), key=references.count) if references else None,
        outliers=outliers,
    )
