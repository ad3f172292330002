"""Canceling: a queued call is never sent; one at the provider is canceled there too."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ..models import GenerationRun, ProviderCall
from ..providers import get_provider
from ..providers.base import ProviderError
from .transitions import dispatch, finish, locked, request_of

Status = ProviderCall.Status


def cancel(call_id) -> None:
    """Cancel a call: queued ones are never sent; ones at the provider are canceled there."""
    with transaction.atomic():
        call = locked(call_id)
        if call.status in ProviderCall.TERMINAL or call.status == Status.SUCCEEDED:
            return
        at_provider = call.status in (Status.SUBMITTED, Status.RUNNING)
        if call.status == Status.SUBMITTING and call.sending_at is not None:
            return  # on the wire: submit cancels it at the provider once its id is saved
        finish(call, Status.CANCELED, error="Canceled by the user.")
    if at_provider:
        cancel_at_provider(call, call.external_id)
    dispatch(call.provider)


def cancel_at_provider(call: ProviderCall, external_id: str) -> None:
    try:
        get_provider(call.provider).cancel(request_of(call), external_id)
    except ProviderError as exc:
        ProviderCall.objects.filter(id=call.id).update(
            error=f"Canceled here; the provider did not confirm: {exc}"
        )


def cancel_queued(run: GenerationRun) -> int:
    """Cancel, in one statement, the calls of a run that were never sent."""
    return ProviderCall.objects.filter(run=run, status__in=[Status.HELD, Status.CREATED]).update(
        status=Status.CANCELED,
        error="Canceled by the user before it was sent.",
        actual_cost=Decimal("0"),
        finished_at=timezone.now(),
        next_check_at=None,
        updated_at=timezone.now(),
    )
