"""Celery tasks of datasets: each loads a row by id and calls its service."""

from celery import shared_task

from . import exports, ingest


@shared_task(ignore_result=True)
def ingest_upload(upload_id: str) -> None:
    """Turn one received upload into an image, or record why not (idempotent)."""
    ingest.ingest_upload(upload_id)


@shared_task(ignore_result=True)
def build_export(export_id: str) -> None:
    """Build an export's zip into storage (idempotent: a ready export is left alone)."""
    exports.build_export(export_id)
