"""Celery tasks of characters: likeness, measured in the worker (never in the web process)."""

from celery import shared_task

from .likeness import scoring


@shared_task(ignore_result=True)
def measure_image(image_id: int) -> None:
    """Read one image's likeness vectors and score it (idempotent)."""
    scoring.measure_image(image_id=image_id)


@shared_task(ignore_result=True)
def rescore_character(character_id: int) -> None:
    """Score a character's images against its current identity (a new anchor or pin)."""
    scoring.score_character(character_id=character_id)
