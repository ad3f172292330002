"""Celery tasks of training: each is a few lines around a service."""

from celery import shared_task

from lorastudio import queueing

from . import outgoing, pins, services


@shared_task(ignore_result=True)
def sync_training_jobs() -> int:
    """The periodic pass: live training jobs follow their provider calls."""
    return services.sync_open_jobs()


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    """Send one outgoing webhook; a failed try is sent again later, with backoff."""
    retry_in = outgoing.deliver(delivery_id)
    if retry_in is not None:
        queueing.send(deliver_webhook, delivery_id, countdown=retry_in)


@shared_task(ignore_result=True)
def build_pin_pack(pin_id: str) -> None:
    """Build a pin version's character pack (idempotent: a built pack is left alone)."""
    pins.build_pack(pin_id)
