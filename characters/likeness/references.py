"""What an image is compared with: its character's identity, as vectors of one measure.

The identity is the picked anchors (the sheet: their centroid of distances, and each anchor
on its own); once pinned, the pin's primary and references. A character with neither yet
(uploads only), or whose sheet or pin shows no face while its photos do, is compared with
the consensus of its own images: the largest group of mutually alike faces. The distance
to a reference of several images is the mean of the distances to each, so one calibrated
threshold holds whether it has one image or eight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..models import Anchor, Character, ImageEmbedding, LikenessFlag, Measure

CONSENSUS_LIMIT = 500  # newest vectors a consensus is drawn from (pairwise: n² distances)

# training registers where a character's current pin is: characters cannot import training.
# fn(character) → (pin version, [primary image id, reference image ids...]) or None.
_pin_sources: list[Callable[[Character], tuple[int, list[int]] | None]] = []


def register_pin_source(source: Callable[[Character], tuple[int, list[int]] | None]) -> None:
    if source not in _pin_sources:
        _pin_sources.append(source)


def current_pin(character: Character) -> tuple[int, list[int]] | None:
    for source in _pin_sources:
        found = source(character)
        if found:
            return found
    return None


@dataclass
class Reference:
    """Reference images of one measure and model, with the vectors they have."""

    label: str  # sheet, anchor:<pose>, pin:<version>, consensus
    measure: str
    model: str
    image_ids: list[int]
    vectors: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def key(self) -> str:
        text = f"{self.measure}|{self.model}|{self.label}|{sorted(self.image_ids)}"
        return hashlib.sha1(text.encode()).hexdigest()

    def distance_from(self, image_id: int, vector, *, leave_out=()) -> float | None:
        """Mean distance of `vector` to the reference's vectors (the image itself and the
        ids in `leave_out` not counted); None when nothing is left to compare with."""
        others = [v for i, v in self.vectors.items() if i != image_id and i not in leave_out]
        if not others:
            return None
        point = np.asarray(vector, dtype=np.float64)
        return float(np.mean([np.linalg.norm(point - v) for v in others]))


@dataclass
class Identity:
    """Everything a character's images are scored against, for one measure."""

    measure: str
    model: str
    primary: Reference | None
    sheet: Reference | None
    anchors: dict[int, tuple[str, int]]  # pose id → (pose key, anchor image id)
    anchor_vectors: dict[int, np.ndarray]  # anchor image id → vector

    @property
    def key(self) -> str:
        return self.primary.key if self.primary else ""


def _vectors(measure: str, model: str, image_ids) -> dict[int, np.ndarray]:
    rows = ImageEmbedding.objects.filter(
        image_id__in=list(image_ids), measure=measure, model=model, flag=LikenessFlag.OK
    ).values_list("image_id", "vector")
    return {image_id: np.asarray(vector, dtype=np.float64) for image_id, vector in rows}


def consensus(measure: str, model: str, character: Character, threshold: float) -> Reference:
    """The largest group of the character's images within `threshold` of one of them."""
    rows = list(
        ImageEmbedding.objects.filter(
            image__character=character, measure=measure, model=model, flag=LikenessFlag.OK
        )
        .order_by("-image__created_at", "-image_id")
        .values_list("image_id", "vector")[:CONSENSUS_LIMIT]
    )
    reference = Reference("consensus", measure, model, [])
    if len(rows) < 2:
        return reference
    ids = [image_id for image_id, _ in rows]
    matrix = np.asarray([vector for _, vector in rows], dtype=np.float64)
    squared = (matrix**2).sum(axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * matrix @ matrix.T, 0))
    close = distances <= threshold
    # The seed with the most alike neighbours; ties go to the oldest (stable as images arrive).
    counts = close.sum(axis=1)
    seed = max(range(len(ids)), key=lambda n: (counts[n], -ids[n]))
    if counts[seed] < 2:  # itself only: no two images agree on anyone
        return reference
    members = [ids[n] for n in np.flatnonzero(close[seed])]
    reference.image_ids = sorted(members)
    reference.vectors = {i: matrix[ids.index(i)] for i in members}
    return reference


def identity(character: Character, measure) -> Identity:
    """The character's references for `measure`: pin, else sheet, else (or when they have
    no vector of this measure) the consensus."""
    anchors = {
        pose_id: (pose_key, image_id)
        for pose_id, pose_key, image_id in Anchor.objects.filter(character=character).values_list(
            "pose_id", "pose__key", "image_id"
        )
    }
    anchor_ids = [image_id for _, image_id in anchors.values()]
    pin = current_pin(character)
    wanted = set(anchor_ids) | set(pin[1] if pin else [])
    vectors = _vectors(measure.name, measure.model, wanted)
    sheet = None
    if anchor_ids:
        sheet = Reference(
            "sheet",
            measure.name,
            measure.model,
            sorted(anchor_ids),
            {i: vectors[i] for i in anchor_ids if i in vectors},
        )
    primary = None
    if pin:
        version, pin_ids = pin
        primary = Reference(
            f"pin:{version}",
            measure.name,
            measure.model,
            sorted(pin_ids),
            {i: vectors[i] for i in pin_ids if i in vectors},
        )
    elif sheet is not None:
        primary = sheet
    if primary is None or not primary.vectors:  # none yet, or none that shows this measure
        threshold = measure.other if measure.other is not None else measure.drift
        primary = consensus(measure.name, measure.model, character, threshold)
    return Identity(
        measure=measure.name,
        model=measure.model,
        primary=primary,
        sheet=sheet,
        anchors=anchors,
        anchor_vectors={i: vectors[i] for i in anchor_ids if i in vectors},
    )


def measure_of(character: Character) -> str:
    """The measure a character is judged by: its face while its identity images show one,
    or, when they show none, while two of its own images do (their consensus), else the
    provider's figure embedding when it has one, else rough. Measures are never mixed: one
    character, one measure at a time."""
    anchor_ids = list(Anchor.objects.filter(character=character).values_list("image_id", flat=True))
    pin = current_pin(character)
    identity_ids = set(anchor_ids) | set(pin[1] if pin else [])
    embeddings = ImageEmbedding.objects.filter(flag=LikenessFlag.OK)
    if identity_ids:
        faces = embeddings.filter(image_id__in=identity_ids, measure=Measure.FACE)
        if faces.exists():
            return Measure.FACE
    # Identity images without a face (a simulator's mannequins) tell nobody apart: the
    # character's own faces, where it has some, do (their consensus is the reference).
    faces = embeddings.filter(image__character=character, measure=Measure.FACE)
    if faces.count() >= 2:
        return Measure.FACE
    mine = (
        embeddings.filter(image_id__in=identity_ids)
        if identity_ids
        else embeddings.filter(image__character=character)
    )
    if mine.filter(measure=Measure.FIGURE).exists():
        return Measure.FIGURE
    return Measure.ROUGH
