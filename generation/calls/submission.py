"""Submitting a claimed call, at most once, and what its answer makes of it: submitted (its
provider id kept whatever happens), back to the queue with backoff, or unknown; and the
user's choice to send an unknown call again."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lorastudio import audit
from lorastudio.errors import Conflict
from lorastudio.models import AuditEvent

from .. import budgets, poll_timing
from ..models import GenerationRun, ProviderCall
from ..providers import get_provider
from ..providers.base import OutcomeUnknown, ProviderError, TransientError
from ..run_status import refresh_run
from .cancellation import cancel, cancel_at_provider
from .purposes import task_for
from .scheduling import backoff, backstop, enqueue
from .transitions import dispatch, fail, finish, locked

log = logging.getLogger(__name__)
Status = ProviderCall.Status

MAX_SUBMIT_ATTEMPTS = 8


def submit(call_id) -> None:
    """Send one claimed call to its provider, at most once."""
    with transaction.atomic():
        call = (
            ProviderCall.objects.select_for_update()
            .filter(id=call_id, status=Status.SUBMITTING, sending_at__isnull=True)
            .first()
        )
        if call is None:
            return  # already sent, canceled, or released
        provider = get_provider(call.provider)
        try:
            task = task_for(call)
            request = provider.build(task)
        except TransientError as exc:  # e.g. uploading an input file to the provider failed
            _release_for_retry(call, exc)
            return
        except Exception as exc:  # a missing input file, a key not set: say so on the call
            finish(call, Status.FAILED, error=f"Could not prepare the request: {exc}")
            return
        call.request, call.endpoint = request.input, request.endpoint
        call.sending_at = timezone.now()  # from here on the outcome may be unknown
        # The lease outlasts the adapters' submit timeouts (connect + read), so a slow submit
        # that succeeds is never taken for a lost one.
        call.next_check_at = call.sending_at + timedelta(seconds=settings.CALL_SUBMIT_LEASE_SECONDS)
        call.save(
            update_fields=["request", "endpoint", "sending_at", "next_check_at", "updated_at"]
        )

    try:
        external_id = provider.submit(request, webhook_url=_webhook_url(call.provider))
    except TransientError as exc:
        _release_for_retry(call, exc)
        return
    except OutcomeUnknown as exc:
        mark_unknown(call.id, str(exc))
        return
    except ProviderError as exc:
        fail(call, str(exc))
        return
    _keep_external_id(call, external_id)


def _keep_external_id(call: ProviderCall, external_id: str) -> None:
    """The provider accepted the call and bills it: its id must land on the call, whatever
    happened meanwhile, and even if the database is away for a while."""
    deadline = time.monotonic() + settings.CALL_SAVE_ID_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            _record_submitted(call, external_id)
            return
        except DatabaseError as exc:
            attempt += 1
            log.error(
                "%s accepted call %s as %s, but saving that failed (try %d): %s",
                call.provider,
                call.id,
                external_id,
                attempt,
                exc,
            )
            if time.monotonic() > deadline:
                raise
            connection.close()  # the next try opens a fresh connection
            time.sleep(min(5.0, 0.2 * 2**attempt))


def _record_submitted(call: ProviderCall, external_id: str) -> None:
    from .. import tasks

    now = timezone.now()
    with transaction.atomic():
        current = locked(call.id)
        if current.sending_at != call.sending_at and current.status != Status.UNKNOWN:
            # The user sent the call again after an unknown outcome: this is the first request
            # turning up. Keep it on record; the call follows the newer request.
            log.error(
                "Call %s: an earlier request reached %s as %s.", call.id, call.provider, external_id
            )
            ProviderCall.objects.filter(id=call.id).update(
                logs=F("logs")
                + f"\nAn earlier request also reached the provider as {external_id}.",
            )
            return
        if current.status == Status.UNKNOWN:
            log.warning(
                "Call %s was marked unknown; its provider id %s arrived after all.",
                call.id,
                external_id,
            )
        if current.status not in (Status.SUBMITTING, Status.UNKNOWN):
            # Canceled (or failed) while the request was on the wire: keep the id, stop the job.
            log.warning(
                "Call %s is %s; its provider id %s is kept.", call.id, current.status, external_id
            )
            ProviderCall.objects.filter(id=call.id).update(external_id=external_id, updated_at=now)
            transaction.on_commit(lambda: cancel_at_provider(current, external_id))
            return
        current.external_id = external_id
        delay = poll_timing.first_poll_delay(current)
        updated = ProviderCall.objects.filter(
            id=call.id, status__in=[Status.SUBMITTING, Status.UNKNOWN]
        ).update(
            status=Status.SUBMITTED,
            external_id=external_id,
            submitted_at=now,
            error="",
            next_check_at=now + backstop(delay),
            updated_at=now,
        )
        assert updated == 1  # the row is locked
        refresh_run(call.run_id)
        canceled = GenerationRun.objects.filter(
            id=call.run_id, status=GenerationRun.Status.CANCELED
        ).exists()
        # Due when the call is expected done, counted from when it was accepted: the time
        # this transaction takes is not waited on top.
        due = now + timedelta(seconds=delay)
        transaction.on_commit(lambda: enqueue(tasks.poll_call, call.id, due_at=due))
    if canceled:
        cancel(call.id)  # the run was canceled while this request was on the wire


def _release_for_retry(call: ProviderCall, exc: ProviderError) -> None:
    attempts = call.attempts + 1
    if attempts >= MAX_SUBMIT_ATTEMPTS:
        with transaction.atomic():
            finish(locked(call.id), Status.FAILED, error=f"Gave up after {attempts} tries: {exc}")
        return
    updated = ProviderCall.objects.filter(id=call.id, status=Status.SUBMITTING).update(
        status=Status.CREATED,
        sending_at=None,
        attempts=attempts,
        error=f"Retrying: {exc}",
        next_check_at=timezone.now() + backoff(attempts),
        updated_at=timezone.now(),
    )
    if not updated:
        log.warning("Call %s left submitting meanwhile; not queued again.", call.id)


def mark_unknown(call_id, reason: str) -> None:
    updated = ProviderCall.objects.filter(
        id=call_id, status=Status.SUBMITTING, sending_at__isnull=False
    ).update(
        status=Status.UNKNOWN,
        error=(
            f"{reason} The provider may have accepted this request: check its dashboard, then "
            "retry (which may pay twice) or give up."
        ),
        next_check_at=None,
        updated_at=timezone.now(),
    )
    if not updated:
        log.info("Call %s moved on before it could be marked unknown.", call_id)
        return
    call = ProviderCall.objects.only("run_id").get(id=call_id)
    refresh_run(call.run_id)


def _webhook_url(provider: str) -> str | None:
    if not settings.PUBLIC_BASE_URL or provider == "local":
        return None
    return f"{settings.PUBLIC_BASE_URL}/webhooks/{provider}"


def retry_unknown(call_id, *, by=None) -> None:
    """The user's explicit choice to send an `unknown` call again (it may be paid twice, so
    the budget must have room for it once more)."""
    with budgets.launching(user=by, what="Sending this call again"):
        call = locked(call_id)
        if call.status != Status.UNKNOWN:
            raise Conflict("Only a call whose outcome is unknown can be sent again.")
        budgets.reserve(cost=call.estimated_cost, user=by, what="Sending this call again")
        call.status, call.sending_at, call.next_check_at = Status.CREATED, None, None
        call.error = "Sent again by the user after an unknown outcome."
        call.save()
        audit.record(
            AuditEvent.Action.CALL_RESENT,
            f"sent again {call} of run #{call.run_id} after an unknown outcome "
            f"(may be paid twice: {budgets.money(call.estimated_cost)})",
            actor=by,
            target=f"call:{call.id}",
            cost=call.estimated_cost,
        )
    refresh_run(call.run_id)
    dispatch(call.provider)
