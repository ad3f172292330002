"""A run's status, error summary and cost, always recomputed from its calls.

Calls of one run finish at the same moment in different workers. Each recomputation first
locks the run's row, so they take turns: under READ COMMITTED the counts a later one reads
include every call committed before it got the lock. `reconcile()` in the periodic pass
catches anything left behind (a worker killed between a call's commit and its run's).
"""

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import GenerationRun, ProviderCall

log = logging.getLogger(__name__)
Status = ProviderCall.Status
RunStatus = GenerationRun.Status
SETTLED = (*ProviderCall.TERMINAL, Status.UNKNOWN)


def refresh_run(run_id) -> None:
    """Recompute a run from its calls, serialized on the run's row."""
    if run_id is None:
        return
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().filter(id=run_id).first()
        if run is None:
            return
        _recompute(run)


def _recompute(run: GenerationRun) -> None:
    calls = ProviderCall.objects.filter(run_id=run.id)
    counts = dict.fromkeys(Status.values, 0)
    for row in calls.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    total = sum(counts.values())
    done, failed, canceled, unknown = (
        counts[Status.DONE],
        counts[Status.FAILED],
        counts[Status.CANCELED],
        counts[Status.UNKNOWN],
    )
    open_ = total - done - failed - canceled - unknown
    if run.status == RunStatus.CANCELED:
        status = run.status
    elif counts[Status.HELD]:
        status = RunStatus.HELD
    elif open_:
        started = counts[Status.CREATED] < open_ or done or failed
        status = RunStatus.RUNNING if started else RunStatus.PENDING
    elif done == total:
        status = RunStatus.SUCCEEDED
    elif done or unknown:
        status = RunStatus.PARTIAL
    elif canceled and not failed:
        status = RunStatus.CANCELED
    else:
        status = RunStatus.FAILED
    problems = []
    if failed:
        first = (
            calls.filter(status=Status.FAILED)
            .exclude(error="")
            .order_by("finished_at")
            .values_list("error", flat=True)
            .first()
        )
        problems.append(f"{failed} of {total} calls failed" + (f": {first}" if first else "."))
    if unknown:
        problems.append(f"{unknown} call(s) have an unknown outcome and need a decision.")
    now = timezone.now()
    GenerationRun.objects.filter(id=run.id).update(
        status=status,
        error=" ".join(problems),
        actual_cost=calls.aggregate(total=Sum("actual_cost"))["total"] or Decimal("0"),
        finished_at=None if open_ else (run.finished_at or now),
        updated_at=now,
    )


def reconcile() -> int:
    """Recompute every run that looks open but has no open call (or looks done but has one)."""
    open_call = ~Q(calls__status__in=SETTLED)
    stale = (
        GenerationRun.objects.annotate(open_calls=Count("calls", filter=open_call))
        .filter(
            Q(finished_at__isnull=True, open_calls=0)
            | Q(finished_at__isnull=False, open_calls__gt=0)
        )
        .values_list("id", flat=True)
    )
    ids = list(stale[:500])
    for run_id in ids:
        log.warning("Run %s was out of step with its calls; recomputed.", run_id)
        refresh_run(run_id)
    return len(ids)
