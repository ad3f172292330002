"""Celery tasks of training: each is a few lines around a service."""

from celery import shared_task

from . import outgoing, services


@shared_task(ignore_result=True)
def sync_training_jobs() -> int:
    """The periodic pass: live training jobs follow their provider calls."""
    return services.sync_open_jobs()


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    """Send one outgoing webhook; a failed try is sent again later, with backoff."""
    retry_in = outgoing.deliver(delivery_id)
    if retry_in is not None:
        deliver_webhook.apply_async((delivery_id,), countdown=retry_in)


@shared_task(ignore_result=True)
def retry_due_webhooks() -> int:
    """Pick up retries whose queued message was lost (a worker restart, a Redis flush)."""
    due = outgoing.due_deliveries()
    for delivery_id in due:
        deliver_webhook.delay(str(delivery_id))
    return len(due)
