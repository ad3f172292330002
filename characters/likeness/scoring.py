"""Measuring images and scoring them against their character's identity (worker side).

`measure_image` reads one image's vectors (each offline measure once per image and model)
and scores it; `score_character` scores every measured image of a character again, which
a new reference (a re-picked anchor, a new pin) asks for. Both are idempotent. Nothing here
runs in the web process: views and services only enqueue (`measure_later`, `rescore_later`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from PIL import Image as PILImage
from PIL import ImageOps
from redis.exceptions import RedisError

from ..models import Character, Image, ImageEmbedding, LikenessFlag, LikenessScore
from . import MEASURES, OFFLINE, measure_named, references
from .base import flag_for, score_for

log = logging.getLogger(__name__)
WORK_SIDE = 2048  # pictures are read at most this size: faces are judged in original pixels


# --- Enqueueing (any process) -------------------------------------------------------------
def measure_later(image_ids: Iterable[int]) -> None:
    """Measure these images in the worker once the current transaction commits."""
    ids = [int(i) for i in image_ids]
    if ids:
        transaction.on_commit(lambda: _send("measure_image", ids))


def rescore_later(character_id: int) -> None:
    """Score a character's images again, in the worker, once the transaction commits."""
    transaction.on_commit(lambda: _send("rescore_character", [character_id]))


def _send(task_name: str, ids: list[int]) -> None:
    from .. import tasks

    task = getattr(tasks, task_name)
    try:
        for value in ids:
            task.delay(value)
    except (BrokerError, RedisError, OSError) as exc:  # the periodic pass finds them later
        log.warning("Could not queue %s for %s (%s); the sweep will.", task_name, ids, exc)


# --- Reading vectors ----------------------------------------------------------------------
def read_picture(image: Image) -> tuple[np.ndarray, int]:
    """The picture as RGB at most WORK_SIDE px, and its own long side in pixels."""
    with image.file.open("rb") as handle:
        content = handle.read()
    with PILImage.open(io.BytesIO(content)) as picture:
        original_side = max(picture.size)
        # JPEG: decoded at 1/2, 1/4... directly, never under WORK_SIDE / 2 on either side
        # (a 12 MP photo decodes at 2000 × 1500, a quarter of the work).
        picture.draft("RGB", (WORK_SIDE // 2, WORK_SIDE // 2))
        upright = ImageOps.exif_transpose(picture).convert("RGB")
    upright.thumbnail((WORK_SIDE, WORK_SIDE), PILImage.Resampling.BILINEAR)
    return np.asarray(upright), original_side


def embed(image: Image, *, measures=OFFLINE) -> list[ImageEmbedding]:
    """The image's vector for each offline measure, read only where it is missing (or made
    by another model): running this twice reads the picture once."""
    have = {
        (e.measure, e.model): e
        for e in ImageEmbedding.objects.filter(image=image, measure__in=measures)
    }
    todo = [MEASURES[m] for m in measures if (m, MEASURES[m].model) not in have]
    if todo:
        rgb, original_side = read_picture(image)
        for measure in todo:
            reading = measure.describe(rgb, original_side=original_side)
            embedding, _ = ImageEmbedding.objects.update_or_create(
                image=image,
                measure=measure.name,
                defaults={
                    "model": measure.model,
                    "flag": reading.flag,
                    "vector": reading.vector,
                    "face_px": reading.face_px,
                },
            )
            have[(measure.name, measure.model)] = embedding
    return list(have.values())


def save_vector(*, image_id: int, measure: str, model: str, reading) -> None:
    """Keep a vector read elsewhere (a provider's embedding) and score the image after the
    transaction commits, in the worker like every other scoring."""
    image = Image.objects.filter(id=image_id).only("id", "character_id").first()
    if image is None:
        return  # deleted meanwhile: nothing to keep
    ImageEmbedding.objects.update_or_create(
        image=image,
        measure=measure,
        defaults={"model": model, "flag": reading.flag, "vector": reading.vector},
    )
    rescore_later(image.character_id)


def measure_image(*, image_id: int) -> None:
    """Read an image's vectors and score it (its character again, if it is part of the
    identity or the identity moved on). Idempotent; a deleted image is skipped."""
    image = Image.objects.select_related("character").filter(id=image_id).first()
    if image is None:
        return
    try:
        embed(image)
    except (OSError, ValueError) as exc:  # the file is gone or unreadable: say so, go on
        log.warning("Image %s could not be measured: %s", image_id, exc)
        return
    score_images(character=image.character, image_ids=[image.id])


# --- Scoring ------------------------------------------------------------------------------
def _lock(character_id: int) -> None:
    """One scoring of a character at a time (until the transaction ends): two workers
    measuring two of its uploads would otherwise score against identities that miss each
    other's image, or replace the same rows at once."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"likeness:{character_id}"])


@transaction.atomic
def score_character(*, character_id: int) -> int:
    """Score every measured image of a character against its current identity."""
    character = Character.objects.filter(id=character_id).first()
    if character is None:
        return 0
    _lock(character.id)
    ids = list(
        ImageEmbedding.objects.filter(image__character=character)
        .values_list("image_id", flat=True)
        .distinct()
    )
    measure = measure_named(references.measure_of(character))
    return _score(ids, measure, references.identity(character, measure))


@transaction.atomic
def score_images(*, character: Character, image_ids: list[int]) -> int:
    """Score these images; the whole character when the identity changed meanwhile (a new
    anchor, a pin, a consensus that grew) so no image keeps a score of an old reference."""
    _lock(character.id)
    measure = measure_named(references.measure_of(character))
    ident = references.identity(character, measure)
    stale = (
        LikenessScore.objects.filter(image__character=character, primary=True)
        .exclude(reference_key=ident.key)
        .exists()
    )
    if stale or set(image_ids) & set(ident.primary.image_ids if ident.primary else []):
        return score_character(character_id=character.id)
    return _score(image_ids, measure, ident)


def _score(image_ids, measure, ident) -> int:
    images = {
        i.id: i
        for i in Image.objects.filter(id__in=image_ids).only(
            "id", "kind", "pose_id", "source_image_id", "likeness_sort_key"
        )
    }
    embeddings = {
        e.image_id: e
        for e in ImageEmbedding.objects.filter(image_id__in=image_ids, measure=measure.name)
    }
    rows = []
    for image_id, image in images.items():
        embedding = embeddings.get(image_id)
        if embedding is None or embedding.model != measure.model:
            continue  # not read by this measure yet: the sweep will
        rows.extend(_rows_for(image, embedding, measure, ident))
    # Rows of other measures or references than these are an old identity's: gone.
    LikenessScore.objects.filter(image_id__in=list(images)).delete()
    LikenessScore.objects.bulk_create(rows)
    _copy_sort_keys(images.values(), rows)
    return len(images)


def _copy_sort_keys(images, rows) -> None:
    """Each image's primary score copied to the column the gallery sorts on (an index walk
    at 20,000 images): here, as the scores are written, and nowhere else."""
    primary = {row.image_id: row.score for row in rows if row.primary}
    changed = []
    for image in images:
        if image.likeness_sort_key != primary.get(image.id):
            image.likeness_sort_key = primary.get(image.id)
            changed.append(image)
    Image.objects.bulk_update(changed, ["likeness_sort_key"], batch_size=1000)


def _rows_for(image, embedding, measure, ident) -> list[LikenessScore]:
    now = timezone.now()

    def row(reference, distance, *, primary=False, flag=None):
        if flag is None and distance is not None:
            flag = flag_for(measure, distance)
        return LikenessScore(
            image_id=image.id,
            measure=measure.name,
            model=measure.model,
            reference=reference.label if reference else "none",
            reference_key=reference.key if reference else "",
            distance=None if distance is None else round(distance, 4),
            score=None if distance is None else score_for(measure, distance),
            flag=flag or "",
            primary=primary,
            created_at=now,
            updated_at=now,
        )

    if embedding.flag != LikenessFlag.OK:  # no face, face too small: a flag, not a number
        return [row(ident.primary, None, primary=True, flag=embedding.flag)]
    vector = embedding.vector
    # A candidate is compared with the *other* picked anchors: its own pose's anchor is what
    # it may replace.
    own_pose_anchor = ident.anchors.get(image.pose_id, (None, None))[1]
    leave_out = (own_pose_anchor,) if image.kind == Image.Kind.CANDIDATE else ()
    rows = [
        row(
            ident.primary,
            ident.primary.distance_from(image.id, vector, leave_out=leave_out)
            if ident.primary
            else None,
            primary=True,
        )
    ]
    if ident.sheet is not None and ident.primary is not ident.sheet:
        rows.append(row(ident.sheet, ident.sheet.distance_from(image.id, vector)))
    source = image.source_image_id
    if source in ident.anchor_vectors and source != image.id:
        pose_key = next(key for key, anchor_id in ident.anchors.values() if anchor_id == source)
        anchor = references.Reference(
            f"anchor:{pose_key}",
            measure.name,
            measure.model,
            [source],
            {source: ident.anchor_vectors[source]},
        )
        rows.append(row(anchor, anchor.distance_from(image.id, vector)))
    return rows
