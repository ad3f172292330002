"""The periodic pass over all calls: recover lost work, submit queued calls, poll due ones,
retry downloads, and put right any run out of step with its calls."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import run_status
from ..models import ProviderCall
from .scheduling import enqueue
from .submission import mark_unknown
from .transitions import dispatch

Status = ProviderCall.Status


def sweep() -> dict:
    """The periodic pass: recover lost work, submit queued calls, poll due ones, retry
    downloads, and put right any run out of step with its calls."""
    from .. import tasks

    now = timezone.now()
    stale = ProviderCall.objects.filter(status=Status.SUBMITTING, next_check_at__lt=now)
    # Claimed but never sent: safe to queue again.
    released = stale.filter(sending_at__isnull=True).update(
        status=Status.CREATED, next_check_at=None
    )
    # Sent, and no answer saved within the submit lease: the outcome is unknown.
    lost = list(stale.filter(sending_at__isnull=False).values_list("id", flat=True))
    for call_id in lost:
        mark_unknown(
            call_id,
            "The worker stopped while this request was being submitted, or its answer never came.",
        )

    providers = set(
        ProviderCall.objects.filter(status=Status.CREATED)
        .values_list("provider", flat=True)
        .distinct()
    )
    for provider in providers:
        dispatch(provider)

    lease = now + timedelta(seconds=30)
    due_polls = _claim_due([Status.SUBMITTED, Status.RUNNING], now, lease)
    due_downloads = _claim_due([Status.SUCCEEDED], now, lease)
    for call_id in due_polls:
        enqueue(tasks.poll_call, call_id)
    for call_id in due_downloads:
        enqueue(tasks.download_call, call_id)
    return {
        "released": released,
        "unknown": len(lost),
        "polls": len(due_polls),
        "downloads": len(due_downloads),
        "runs_reconciled": run_status.reconcile(),
    }


def _claim_due(statuses, now, lease) -> list:
    with transaction.atomic():
        ids = list(
            ProviderCall.objects.select_for_update(skip_locked=True)
            .filter(status__in=statuses, next_check_at__lte=now)
            .values_list("id", flat=True)[:500]
        )
        ProviderCall.objects.filter(id__in=ids).update(next_check_at=lease)
    return ids
