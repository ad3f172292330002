"""Celery tasks: each loads a call by id and hands it to the state machine in calls/."""

from celery import shared_task

from . import calls


@shared_task(ignore_result=True)
def submit_call(call_id: str) -> None:
    """Send one claimed call to its provider (at most once)."""
    calls.submit(call_id)


@shared_task(ignore_result=True)
def poll_call(call_id: str) -> None:
    """Check one submitted call at its provider."""
    calls.poll(call_id)


@shared_task(ignore_result=True)
def download_call(call_id: str) -> None:
    """Save a succeeded call's results into our storage."""
    calls.download(call_id)


@shared_task(ignore_result=True)
def tick() -> dict:
    """The periodic pass over all calls: submit queued ones, poll due ones, recover lost work."""
    return calls.sweep()
