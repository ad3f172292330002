"""Likeness of LoRA versions: how alike each version's reference set is to the character's
identity (the sheet, or the pin once pinned), per shot and overall, and versions ranked.

The scores themselves are the reference images' own (characters.likeness, in the worker);
this only reads and sums them up. Scores of different measures are never averaged together:
a version is summed up by the measure most of its shots were scored with.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from characters.models import Image, LikenessScore

from .models import LoraModel


@dataclass
class Summary:
    measure: str | None = None
    per_shot: dict[str, float] = field(default_factory=dict)
    overall: float | None = None
    flags: dict[str, str] = field(default_factory=dict)  # shot → flag, where not ok

    def as_api(self) -> dict | None:
        if self.measure is None:
            return None
        return {"overall": self.overall, "per_shot": self.per_shot, "measure": self.measure}


def summarise(rows: list[tuple[str, str, float | None, str]]) -> Summary:
    """(shot, measure, score, flag) rows, newest first, to a summary: per shot the mean of
    its images' scores, overall the mean of the shots."""
    measures = Counter(measure for _, measure, score, _ in rows if score is not None)
    if not measures:
        flagged = {shot: flag for shot, _, _, flag in rows if flag}
        measure = next((m for _, m, _, _ in rows), None)
        return Summary(measure=measure, flags=flagged)
    measure = measures.most_common(1)[0][0]
    by_shot = defaultdict(list)
    flags = {}
    for shot, row_measure, score, flag in rows:
        if row_measure != measure:
            continue
        if score is not None:
            by_shot[shot].append(score)
        if flag and flag != "ok":
            flags.setdefault(shot, flag)
    per_shot = {shot: round(sum(v) / len(v), 4) for shot, v in by_shot.items()}
    overall = round(sum(per_shot.values()) / len(per_shot), 4) if per_shot else None
    return Summary(measure=measure, per_shot=per_shot, overall=overall, flags=flags)


def _reference_rows(images):
    return (
        LikenessScore.objects.filter(image__in=images, primary=True)
        .order_by("-image__created_at", "-image_id")
        .values_list(
            "image_id",
            "image__call__context__image__lora_id",
            "image__call__context__image__shot",
            "image__call__provider",
            "measure",
            "score",
            "flag",
        )
    )


def by_lora(loras: list[LoraModel]) -> dict[int, Summary]:
    """LoRA id → its reference set's likeness summary (one query for all of them)."""
    if not loras:
        return {}
    images = Image.objects.filter(
        character_id__in={lora.character_id for lora in loras},
        kind=Image.Kind.REFERENCE,
        call__context__image__lora_id__in=[lora.id for lora in loras],
    )
    rows = defaultdict(list)
    for _, lora_id, shot, _, measure, score, flag in _reference_rows(images):
        rows[lora_id].append((shot or "", measure, score, flag))
    return {lora.id: summarise(rows.get(lora.id, [])) for lora in loras}


@dataclass
class RankedColumn:
    column: object  # training.selectors.ReferenceSet
    summary: Summary
    rank: int | None = None

    @property
    def shot_scores(self) -> list[tuple[str, float | None]]:
        """(shot label, score) in the comparison's shot order."""
        return [(label, self.summary.per_shot.get(shot)) for shot, label, _ in self.column.ordered]


def rank_columns(columns) -> list[RankedColumn]:
    """Comparison columns (one version's set on one provider) with their likeness, best
    first; each image of a column gets `.likeness` (its primary score row) for the page.
    Columns of another measure than the leading one are listed but not ranked."""
    images = [image for column in columns for image in column.shots.values() if image]
    scores = {
        row.image_id: row for row in LikenessScore.objects.filter(image__in=images, primary=True)
    }
    ranked = []
    for column in columns:
        rows = []
        for shot, image in column.shots.items():
            if image is None:
                continue
            image.likeness = scores.get(image.id)
            if image.likeness is not None:
                row = image.likeness
                rows.append((shot, row.measure, row.score, row.flag))
        ranked.append(RankedColumn(column=column, summary=summarise(rows)))
    return rank(ranked)


def rank(ranked: list[RankedColumn]) -> list[RankedColumn]:
    """Best overall likeness first, within the measure most columns share; the rest after."""
    measures = Counter(r.summary.measure for r in ranked if r.summary.overall is not None)
    leading = measures.most_common(1)[0][0] if measures else None
    comparable = sorted(
        (r for r in ranked if r.summary.measure == leading and r.summary.overall is not None),
        key=lambda r: -r.summary.overall,
    )
    for n, r in enumerate(comparable, start=1):
        r.rank = n
    return comparable + [r for r in ranked if r not in comparable]


@dataclass
class Drift:
    image_id: int
    role: str
    distance: float
    flag: str  # drift or other_person
    measure: str


def pin_drift(pin) -> list[Drift]:
    """The pin's references that drift from its primary image (or look like another
    person), by the measure the primary was read with: face first, rough last."""
    return drift_from_primary(
        character_id=pin.character_id,
        primary_image_id=pin.primary_image_id,
        references=[(r.image_id, r.get_role_display()) for r in pin.references.all()],
    )


def drift_from_primary(
    *, character_id: int, primary_image_id: int, references: list[tuple[int, str]]
) -> list[Drift]:
    """Of `references` ((image id, role label), images of the character), those that drift
    from the primary image or look like another person: a pin's, or one being chosen."""
    from characters.likeness import measure_named
    from characters.likeness.base import distance, flag_for
    from characters.models import ImageEmbedding, LikenessFlag

    ids = [primary_image_id, *(image_id for image_id, _ in references)]
    vectors = {}
    for row in ImageEmbedding.objects.filter(
        image_id__in=ids, image__character_id=character_id, flag=LikenessFlag.OK
    ):
        vectors.setdefault(row.measure, {})[row.image_id] = row.vector
    for measure_name in ("face", "figure", "rough"):
        found = vectors.get(measure_name, {})
        if primary_image_id not in found:
            continue
        measure = measure_named(measure_name)
        drifts = []
        for image_id, role in references:
            if image_id not in found or image_id == primary_image_id:
                continue
            value = distance(found[primary_image_id], found[image_id])
            flag = flag_for(measure, value)
            if flag != LikenessFlag.OK:
                drifts.append(Drift(image_id, role, value, flag, measure_name))
        return drifts
    return []
