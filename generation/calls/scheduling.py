"""When a call is looked at again: backoff after a failure, the backstop after which the
periodic pass takes over a delayed task, and sending those tasks."""

import random
from datetime import timedelta

from django.utils import timezone

from lorastudio import queueing

# The periodic pass picks up a poll or download only this long after its delayed task was
# due: the task itself does the work; the pass is there for tasks a broker restart lost.
SWEEP_GRACE_SECONDS = 10.0


def backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> timedelta:
    """Exponential backoff with full jitter."""
    return timedelta(seconds=random.uniform(base, min(cap, base * 2**attempt)))


def _delayed_tasks_run() -> bool:
    """False under eager Celery (tests, demos): it runs a delayed task at once, which would
    poll in a loop; the periodic pass polls due calls instead."""
    from lorastudio.celery import app

    return not app.conf.task_always_eager


def backstop(delay: float) -> timedelta:
    """When the periodic pass takes over a poll whose delayed task may have been lost."""
    return timedelta(seconds=delay + (SWEEP_GRACE_SECONDS if _delayed_tasks_run() else 0))


def enqueue(task, call_id, *, countdown: float = 0, due_at=None) -> None:
    """Send a task, to run in `countdown` seconds or at `due_at`; if the broker is down, the
    periodic pass finds the call later."""
    delayed = countdown > 0 or due_at is not None
    if delayed and not _delayed_tasks_run():
        return
    if due_at is not None:
        countdown = max(0.0, (due_at - timezone.now()).total_seconds())
    queueing.send(task, str(call_id), countdown=countdown)
