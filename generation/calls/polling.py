"""Polling a submitted call (on its delayed task, or at once when a webhook says it changed)
and recording what the provider says of it."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import poll_timing
from ..models import ProviderCall
from ..providers import get_provider
from ..providers.base import Poll, ProviderError, State, TransientError
from .purposes import sample_handler_for
from .scheduling import backoff, backstop, enqueue
from .transitions import dispatch, fail, finish, locked, request_of

Status = ProviderCall.Status


def poll(call_id) -> None:
    """Ask the provider where a submitted call stands and move the call along."""
    call = ProviderCall.objects.filter(
        id=call_id, status__in=[Status.SUBMITTED, Status.RUNNING]
    ).first()
    if call is None:
        return
    provider = get_provider(call.provider)
    asked_at = timezone.now()
    try:
        result = provider.poll(request_of(call), call.external_id)
    except TransientError as exc:
        ProviderCall.objects.filter(id=call.id).update(
            next_check_at=timezone.now() + backoff(call.polls, base=1.0, cap=60),
            error=f"Status check failed, retrying: {exc}",
        )
        return
    except ProviderError as exc:
        fail(call, str(exc))
        return
    apply_poll(call.id, result, asked_at=asked_at)


def apply_poll(call_id, result: Poll, *, asked_at=None) -> None:
    """Record what a poll (or webhook-triggered poll) found; idempotent. `asked_at`: when the
    provider was asked (now, if not given)."""
    from .. import tasks

    freed = False
    with transaction.atomic():
        call = locked(call_id)
        if call.status not in (Status.SUBMITTED, Status.RUNNING):
            return
        earlier_polls = call.polls
        call.polls = F("polls") + 1
        if result.logs:
            call.logs = "\n".join(result.logs[-200:])
        if result.progress is not None:
            call.progress = max(0, min(100, result.progress))
        if result.raw is not None:
            call.response = result.raw
        now = timezone.now()
        if result.state in (State.QUEUED, State.RUNNING):
            if result.state == State.RUNNING:
                call.status = Status.RUNNING
            delay = poll_timing.next_poll_delay(call)
            call.next_check_at = now + backstop(delay)
            call.save()
            transaction.on_commit(lambda: enqueue(tasks.poll_call, call_id, countdown=delay))
        elif result.state == State.SUCCEEDED:
            poll_timing.learn(call, earlier_polls=earlier_polls, asked_at=asked_at)
            call.status, call.progress = Status.SUCCEEDED, 100
            call.next_check_at = now + backstop(0)
            if result.units is not None:
                call.units = result.units
            call.save()
            transaction.on_commit(lambda: enqueue(tasks.download_call, call_id))
            freed = True
        elif result.state == State.CANCELED:
            finish(call, Status.CANCELED, error="Canceled at the provider.")
            freed = True
        else:
            finish(call, Status.FAILED, error=result.error or "The provider reported a failure.")
            freed = True
        if freed:  # the slot goes to the next queued call in this same transaction
            dispatch(call.provider)
    if result.samples and (keep := sample_handler_for(call)):
        keep(ProviderCall.objects.get(id=call_id), result.samples)


def webhook_received(provider: str, external_id: str) -> bool:
    """A verified webhook says a call changed: poll it now. False for ids we don't know."""
    from .. import tasks

    call = ProviderCall.objects.filter(provider=provider, external_id=external_id).first()
    if call is None:
        return False
    if call.status in (Status.SUBMITTED, Status.RUNNING):
        enqueue(tasks.poll_call, call.id)
    return True
