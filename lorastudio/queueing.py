"""Enqueue one way, sweep every kind of work.

Every app sends its Celery tasks through `enqueue`: the message leaves once the transaction
that made the work commits (a worker never looks for a row that is not there yet), and a
broker that is down is logged, not raised, because nothing is lost: every row that waits for
a worker has a state and the time its task was last queued, and the periodic pass
(`sweep_lost_work`) queues again what sat too long (a message lost with a Redis restart, or
never sent). The work itself is idempotent, so a message that was only slow does no harm.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
SWEEP_BATCH = 200

# name -> a function that queues again the lost work of one kind; returns how many rows.
_sweepers: dict[str, Callable[[], int]] = {}


def enqueue(task, *args, countdown: float | None = None) -> None:
    """Send `task(*args)` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send(task, *args, countdown=countdown))


def send(task, *args, countdown: float | None = None) -> bool:
    """Send now; if the broker is down, say so in the log and leave it to the periodic pass."""
    try:
        task.apply_async(args, countdown=countdown or None)
    except (BrokerError, RedisError, OSError) as exc:
        log.warning("Could not queue %s%s (%s); the periodic pass will.", task.name, args, exc)
        return False
    return True


def requeue_stale(
    rows: QuerySet, *, task, after: timedelta, field: str = "queued_at", now=None
) -> int:
    """Queue `task(pk)` again for rows of `rows` (those still waiting) whose task was queued
    more than `after` ago, and mark them queued now: each is sent again once per `after`."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            rows.select_for_update(skip_locked=True)
            .filter(**{f"{field}__lt": now - after})
            .order_by(field)
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        rows.model.objects.filter(pk__in=ids).update(**{field: now})
        for pk in ids:
            enqueue(task, str(pk))
    if ids:
        log.warning("Queued %d %s again: their task was lost.", len(ids), rows.model.__name__)
    return len(ids)


def register_sweeper(name: str, sweeper: Callable[[], int]) -> None:
    """`sweeper()` queues again the lost work of one kind (apps register theirs in ready())."""
    _sweepers[name] = sweeper


def sweep_lost_work() -> dict[str, int]:
    """The periodic pass over every kind of waiting work: {kind: rows queued again}."""
    return {name: sweeper() for name, sweeper in sorted(_sweepers.items())}
