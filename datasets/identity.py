"""Identity in a dataset: how far its images spread from the character, and which ones do
not belong (another person, no face, a face too small to judge, drift), from each image's
likeness score (characters.likeness, measured in the worker).

The reference images (the sheet's anchors, a pin's images) are what the others are judged
against: they are never listed for exclusion. Under the rough measure (colour and shape, for
images without a face) "drift" says nothing of who is shown, so only the images that stand
apart from the rest of the set are listed, one by one, and nothing is offered in bulk.
"""

import statistics
from dataclasses import dataclass, field

from characters.models import LikenessFlag, Measure

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
STANDS_APART = "stands apart from the rest of the set in colour and shape"
# Under the rough measure an image stands apart when its distance passes the set's median
# by more than 3 robust standard deviations (1.4826 × the median absolute deviation: the
# Hampel identifier), and at least ROUGH_MIN_GAP: a set whose distances barely differ has a
# tiny deviation, and an image 0.01 further than the rest is not an outlier of anything.
ROUGH_DEVIATIONS = 3.0
ROUGH_MIN_GAP = 0.05
ROUGH_MIN_IMAGES = 5  # fewer than this (besides the reference) give no spread to judge by


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
    reference_images: int = 0  # included images that are the reference (never outliers)

    @property
    def rough(self) -> bool:
        """Judged by colour and shape, not by who is shown."""
        return self.measure == Measure.ROUGH

    @property
    def bulk_exclude(self) -> bool:
        """Whether to offer "Exclude these N": only when the measure tells people apart or
        at least judges the figure, never on the rough measure's word."""
        return bool(self.outliers) and not self.rough


def identity_spread(items, *, reference_ids=()) -> IdentitySpread:
    """The spread and outliers of included `items` (from datasets.selectors.dataset_items,
    which carry likeness_* columns and is_anchor); `reference_ids` are the images of the
    character's pin, which like its anchors are the reference, never an outlier."""
    included = [i for i in items if i.included]
    measured = [i for i in included if getattr(i, "likeness_measure", None)]
    measures = [i.likeness_measure for i in measured]
    measure = max(set(measures), key=measures.count) if measures else None
    distances = [
        i.likeness_distance
        for i in measured
        if i.likeness_measure == measure and i.likeness_distance is not None
    ]
    pinned = set(reference_ids)
    is_reference = {
        i.id: bool(getattr(i, "is_anchor", False)) or i.image_id in pinned for i in measured
    }
    judged = [i for i in measured if not is_reference[i.id]]
    if measure == Measure.ROUGH:
        outliers = _standing_apart(judged, measure)
    else:
        outliers = [
            Outlier(
                item_id=i.id,
                image_id=i.image_id,
                flag=i.likeness_flag,
                reason=FLAG_REASONS[i.likeness_flag],
                distance=i.likeness_distance,
            )
            for i in judged
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
        reference_images=sum(is_reference.values()),
    )


def _standing_apart(judged, measure: str) -> list[Outlier]:
    """The drifting images (rough measure) whose distance is an outlier of the set's own."""
    scored = [
        i for i in judged if i.likeness_measure == measure and i.likeness_distance is not None
    ]
    if len(scored) < ROUGH_MIN_IMAGES:
        return []
    distances = [i.likeness_distance for i in scored]
    median = statistics.median(distances)
    deviation = 1.4826 * statistics.median(abs(d - median) for d in distances)
    fence = median + max(ROUGH_DEVIATIONS * deviation, ROUGH_MIN_GAP)
    return [
        Outlier(
            item_id=i.id,
            image_id=i.image_id,
            flag=LikenessFlag.DRIFT,
            reason=STANDS_APART,
            distance=i.likeness_distance,
        )
        for i in scored
        if i.likeness_flag == LikenessFlag.DRIFT and i.likeness_distance > fence
    ]
