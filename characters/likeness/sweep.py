"""Finding likeness work that was lost, and the backfill of images made before it existed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..models import Character, Image, ImageEmbedding, LikenessScore
from . import OFFLINE, measure_named, references, scoring

GRACE = timedelta(seconds=60)  # an image's own task usually measures it within this
BATCH = 200


def unmeasured_images():
    """Images missing a vector of an offline measure, oldest first (one NOT EXISTS per
    measure, on the (image, measure) unique index)."""
    missing = Q()
    for measure in OFFLINE:
        missing |= ~Exists(ImageEmbedding.objects.filter(image=OuterRef("pk"), measure=measure))
    return Image.objects.filter(missing).order_by("created_at", "id")


def stale_characters() -> list[int]:
    """Characters whose images were scored against another identity than the current one."""
    stale = []
    with_scores = Character.objects.filter(
        Exists(LikenessScore.objects.filter(image__character=OuterRef("pk"), primary=True))
    )
    for character in with_scores.only("id"):
        measure = measure_named(references.measure_of(character))
        key = references.identity(character, measure).key
        if (
            LikenessScore.objects.filter(image__character=character, primary=True)
            .exclude(reference_key=key)
            .exists()
        ):
            stale.append(character.id)
    return stale


# The two below are sweepers of the one lost-work pass (lorastudio.queueing, registered in
# characters.apps): an image has no "queued at" of its own, so one past its grace is queued
# again on every pass until it is measured (measuring is idempotent).
def requeue_lost_measures() -> int:
    """Queue again the measuring of images still unmeasured past their grace."""
    cutoff = timezone.now() - GRACE
    lost = list(
        unmeasured_images().filter(created_at__lt=cutoff).values_list("id", flat=True)[:BATCH]
    )
    scoring._send("measure_image", lost)
    return len(lost)


def requeue_stale_scores() -> int:
    """Queue again the scoring of characters scored against an old identity."""
    stale = stale_characters()
    scoring._send("rescore_character", stale)
    return len(stale)


def backfill(*, progress: Callable[[int, int], None] | None = None) -> int:
    """Measure, in this process, every image without its vectors; then score each character.
    One image's trouble is logged and counted, and the rest go on."""
    ids = list(unmeasured_images().values_list("id", flat=True))
    characters = set()
    for done, image_id in enumerate(ids, start=1):
        image = Image.objects.filter(id=image_id).only("id", "file", "character_id").first()
        if image is not None:
            try:
                scoring.embed(image)
                characters.add(image.character_id)
            except (OSError, ValueError) as exc:
                scoring.log.warning("Image %s could not be measured: %s", image_id, exc)
        if progress:
            progress(done, len(ids))
    for character_id in characters | set(stale_characters()):
        scoring.score_character(character_id=character_id)
    return len(ids)
