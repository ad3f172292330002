"""Celery tasks of datasets: each loads a row by id and calls its service."""

from celery import shared_task

from . import ingest


@shared_task(ignore_result=True)
def ingest_upload(upload_id: str) -> None:
    """Turn one received upload into an image, or record why not (idempotent)."""
    ingest.ingest_upload(upload_id)
