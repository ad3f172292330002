"""The moves every stage of a call shares: lock it, finish it (with its actual cost, its run
brought up to date), fail it, and dispatch queued calls into the provider's free slots."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import ProviderCall
from ..providers.base import Request
from ..providers.catalog import concurrency, model_for
from ..run_status import refresh_run
from .scheduling import enqueue

Status = ProviderCall.Status


def dispatch(provider: str) -> list:
    """Claim queued calls of `provider` for its free slots; their submits run after commit."""
    from .. import tasks

    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:  # one dispatcher per provider at a time
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"dispatch:{provider}"])
        busy = ProviderCall.objects.filter(provider=provider, status__in=ProviderCall.AT_PROVIDER)
        free = concurrency(provider) - busy.count()
        if free <= 0:
            return []
        # The claimed rows stay locked until commit: a cancel that comes meanwhile waits, and
        # then finds them submitting (never sent yet), which it cancels; rows a cancel holds
        # are skipped, so a canceled call is never turned back into one to send.
        due = (
            ProviderCall.objects.select_for_update(skip_locked=True)
            .filter(provider=provider, status=Status.CREATED)
            .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
            .order_by("created_at")
            .values_list("id", flat=True)[:free]
        )
        ids = list(due)
        # A claim not taken up by a worker within its lease was never sent: it is released.
        claimed = ProviderCall.objects.filter(id__in=ids, status=Status.CREATED).update(
            status=Status.SUBMITTING,
            next_check_at=now + timedelta(seconds=settings.CALL_CLAIM_LEASE_SECONDS),
            sending_at=None,
        )
        assert claimed == len(ids)  # the rows are locked
        transaction.on_commit(lambda: [enqueue(tasks.submit_call, i) for i in ids])
    return ids


def fail(call: ProviderCall, error: str) -> None:
    """A call the provider refused or failed for good: record why and free its slot."""
    with transaction.atomic():
        finish(locked(call.id), Status.FAILED, error=error)
    dispatch(call.provider)


def locked(call_id) -> ProviderCall:
    return ProviderCall.objects.select_for_update().get(id=call_id)


def finish(
    call: ProviderCall, status: str, *, error: str = "", delivered: int | None = None
) -> None:
    """Move a locked call to a terminal state, with its actual cost, and update its run."""
    call.status, call.error, call.finished_at, call.next_check_at = (
        status,
        error,
        timezone.now(),
        None,
    )
    if status == Status.DONE:
        call.actual_cost = _actual_cost(call, delivered)
    elif call.actual_cost is None:
        call.actual_cost = Decimal("0")  # failed and canceled requests are not billed
    call.save()
    refresh_run(call.run_id)


def _actual_cost(call: ProviderCall, delivered: int | None) -> Decimal:
    model = model_for(call.provider, call.task)
    if model.unit == "second" and call.units:
        return (model.price * Decimal(call.units)).quantize(Decimal("0.0001"))
    if model.unit == "image":
        return model.estimate(images=delivered or 0)
    return call.estimated_cost


def request_of(call: ProviderCall) -> Request:
    """The request a call was sent as, for asking the provider about it again."""
    return Request(endpoint=call.endpoint, input=call.request)
