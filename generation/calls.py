"""The ProviderCall state machine: every paid request submitted at most once, never lost.

    created ─dispatch─▶ submitting ─submit─▶ submitted ─poll/webhook─▶ running ─▶ succeeded
       ▲  (429/5xx: back, with backoff)   │                                       │ download
       └──────────────────────────────────┘          failed / canceled ◀──────────┴─▶ done
                                     unknown (the worker died while the submit was on the wire)
                                        └─▶ submitted (its provider id arrived after all)

- A row exists before anything is sent. `dispatch` claims queued calls up to the provider's
  concurrency cap; `submit` commits `sending_at` *before* the HTTP request and the provider's
  id right after it. A row left in `submitting` with `sending_at` set may have reached the
  provider: it becomes `unknown` and is never re-sent on its own (the user may retry it).
- Every conditional transition checks its row count. One that changes nothing is logged, and
  never drops what we learned: a provider id that arrives late always lands on its call.
- Polls are timed per call from the endpoint's learned duration (poll_timing) and sent as
  delayed tasks; the periodic pass only picks up what those lost. Webhooks only trigger an
  immediate poll: the provider's API stays the source of truth.
- A run's status is recomputed from its calls, one recomputation at a time (run_status).
- Results are downloaded at once, from the outputs the finishing poll already fetched (one
  result request per call), only from provider hosts, and stored in one transaction with the
  `done` transition, so a crash mid-download just means the download runs again.
"""

import logging
import random
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from lorastudio import audit, queueing
from lorastudio.errors import Conflict
from lorastudio.models import AuditEvent

from . import budgets, downloads, poll_timing, run_status
from .models import GenerationRun, ProviderCall
from .providers import get_provider
from .providers.base import (
    OutcomeUnknown,
    Output,
    Poll,
    ProviderError,
    Request,
    State,
    TransientError,
)
from .providers.catalog import concurrency, model_for
from .run_status import refresh_run

log = logging.getLogger(__name__)
Status = ProviderCall.Status

MAX_SUBMIT_ATTEMPTS = 8
MAX_DOWNLOAD_ATTEMPTS = 5
# The periodic pass picks up a poll or download only this long after its delayed task was
# due: the task itself does the work; the pass is there for tasks a broker restart lost.
SWEEP_GRACE_SECONDS = 10.0
DOWNLOAD_RETRY = "Download failed, retrying: "

# Run when a call's results are in: purpose (call.context["purpose"]) → handler(call, outputs).
OutputHandler = Callable[[ProviderCall, list[Output]], None]
_output_handlers: dict[str, OutputHandler] = {}
# Turn a call's stored inputs into the provider task (resolving our file references to URLs).
TaskBuilder = Callable[[ProviderCall], object]
_task_builders: dict[str, TaskBuilder] = {}
# Keep what a running call shows on the way (training samples): purpose → handler(call, samples).
_sample_handlers: dict[str, Callable] = {}


def register_output_handler(purpose: str, handler: OutputHandler) -> None:
    _output_handlers[purpose] = handler


def register_task_builder(purpose: str, builder: TaskBuilder) -> None:
    _task_builders[purpose] = builder


def register_sample_handler(purpose: str, handler: Callable[[ProviderCall, list], None]) -> None:
    """`handler(call, samples)` keeps the images a call shows while it runs (training
    samples); it is called after the poll's transaction, and must be idempotent."""
    _sample_handlers[purpose] = handler


def _backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> timedelta:
    """Exponential backoff with full jitter."""
    return timedelta(seconds=random.uniform(base, min(cap, base * 2**attempt)))


def _request_of(call: ProviderCall) -> Request:
    return Request(endpoint=call.endpoint, input=call.request)


def _delayed_tasks_run() -> bool:
    """False under eager Celery (tests, demos): it runs a delayed task at once, which would
    poll in a loop; the periodic pass polls due calls instead."""
    from lorastudio.celery import app

    return not app.conf.task_always_eager


def _backstop(delay: float) -> timedelta:
    """When the periodic pass takes over a poll whose delayed task may have been lost."""
    return timedelta(seconds=delay + (SWEEP_GRACE_SECONDS if _delayed_tasks_run() else 0))


def _enqueue(task, call_id, *, countdown: float = 0) -> None:
    """Send a task; if the broker is down, the periodic pass finds the call later."""
    if countdown and not _delayed_tasks_run():
        return
    queueing.send(task, str(call_id), countdown=countdown)


# --- Dispatch and submit -----------------------------------------------------------------
def dispatch(provider: str) -> list:
    """Claim queued calls of `provider` for its free slots; their submits run after commit."""
    from . import tasks

    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:  # one dispatcher per provider at a time
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"dispatch:{provider}"])
        busy = ProviderCall.objects.filter(provider=provider, status__in=ProviderCall.AT_PROVIDER)
        free = concurrency(provider) - busy.count()
        if free <= 0:
            return []
        due = (
            ProviderCall.objects.filter(provider=provider, status=Status.CREATED)
            .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
            .order_by("created_at")
            .values_list("id", flat=True)[:free]
        )
        ids = list(due)
        # A claim not taken up by a worker within its lease was never sent: it is released.
        ProviderCall.objects.filter(id__in=ids).update(
            status=Status.SUBMITTING,
            next_check_at=now + timedelta(seconds=settings.CALL_CLAIM_LEASE_SECONDS),
            sending_at=None,
        )
        transaction.on_commit(lambda: [_enqueue(tasks.submit_call, i) for i in ids])
    return ids


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
            task = _task_builders[call.context.get("purpose", "images")](call)
            request = provider.build(task)
        except TransientError as exc:  # e.g. uploading an input file to the provider failed
            _release_for_retry(call, exc)
            return
        except Exception as exc:  # a missing input file, a key not set: say so on the call
            _finish(call, Status.FAILED, error=f"Could not prepare the request: {exc}")
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
        _mark_unknown(call.id, str(exc))
        return
    except ProviderError as exc:
        _fail(call, str(exc))
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
    from . import tasks

    now = timezone.now()
    with transaction.atomic():
        current = _locked(call.id)
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
            transaction.on_commit(lambda: _cancel_at_provider(current, external_id))
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
            next_check_at=now + _backstop(delay),
            updated_at=now,
        )
        assert updated == 1  # the row is locked
        refresh_run(call.run_id)
        canceled = GenerationRun.objects.filter(
            id=call.run_id, status=GenerationRun.Status.CANCELED
        ).exists()
        transaction.on_commit(lambda: _enqueue(tasks.poll_call, call.id, countdown=delay))
    if canceled:
        cancel(call.id)  # the run was canceled while this request was on the wire


def _release_for_retry(call: ProviderCall, exc: ProviderError) -> None:
    attempts = call.attempts + 1
    if attempts >= MAX_SUBMIT_ATTEMPTS:
        with transaction.atomic():
            _finish(_locked(call.id), Status.FAILED, error=f"Gave up after {attempts} tries: {exc}")
        return
    updated = ProviderCall.objects.filter(id=call.id, status=Status.SUBMITTING).update(
        status=Status.CREATED,
        sending_at=None,
        attempts=attempts,
        error=f"Retrying: {exc}",
        next_check_at=timezone.now() + _backoff(attempts),
        updated_at=timezone.now(),
    )
    if not updated:
        log.warning("Call %s left submitting meanwhile; not queued again.", call.id)


def _mark_unknown(call_id, reason: str) -> None:
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


# --- Polling -----------------------------------------------------------------------------
def poll(call_id) -> None:
    """Ask the provider where a submitted call stands and move the call along."""
    call = ProviderCall.objects.filter(
        id=call_id, status__in=[Status.SUBMITTED, Status.RUNNING]
    ).first()
    if call is None:
        return
    provider = get_provider(call.provider)
    try:
        result = provider.poll(_request_of(call), call.external_id)
    except TransientError as exc:
        ProviderCall.objects.filter(id=call.id).update(
            next_check_at=timezone.now() + _backoff(call.polls, base=1.0, cap=60),
            error=f"Status check failed, retrying: {exc}",
        )
        return
    except ProviderError as exc:
        _fail(call, str(exc))
        return
    apply_poll(call.id, result)


def apply_poll(call_id, result: Poll) -> None:
    """Record what a poll (or webhook-triggered poll) found; idempotent."""
    from . import tasks

    freed = False
    with transaction.atomic():
        call = _locked(call_id)
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
            call.next_check_at = now + _backstop(delay)
            call.save()
            transaction.on_commit(lambda: _enqueue(tasks.poll_call, call_id, countdown=delay))
        elif result.state == State.SUCCEEDED:
            poll_timing.learn(call, earlier_polls=earlier_polls)
            call.status, call.progress = Status.SUCCEEDED, 100
            call.next_check_at = now + _backstop(0)
            if result.units is not None:
                call.units = result.units
            call.save()
            transaction.on_commit(lambda: _enqueue(tasks.download_call, call_id))
            freed = True
        elif result.state == State.CANCELED:
            _finish(call, Status.CANCELED, error="Canceled at the provider.")
            freed = True
        else:
            _finish(call, Status.FAILED, error=result.error or "The provider reported a failure.")
            freed = True
    if result.samples and (keep := _sample_handlers.get(call.context.get("purpose", ""))):
        keep(ProviderCall.objects.get(id=call_id), result.samples)
    if freed:
        dispatch(call.provider)


# --- Download ----------------------------------------------------------------------------
def download(call_id) -> None:
    """Fetch a succeeded call's results, hand them to its purpose's handler, mark it done."""
    call = ProviderCall.objects.filter(id=call_id, status=Status.SUCCEEDED).first()
    if call is None:
        return
    provider = get_provider(call.provider)
    try:
        outputs = _fetched_outputs(call, provider)
    except downloads.DownloadError as exc:
        _download_failed(call, exc)
        return
    except ProviderError as exc:
        _download_failed(call, downloads.DownloadError(str(exc), retryable=exc.retryable))
        return
    with transaction.atomic():
        call = _locked(call_id)
        if call.status != Status.SUCCEEDED:
            return
        _output_handlers[call.context.get("purpose", "images")](call, outputs)
        _finish(call, Status.DONE, error="", delivered=len(outputs))


def _outputs_of(call: ProviderCall, provider) -> list[Output]:
    """The outputs the finishing poll saw; asked again only when they cannot be rebuilt from
    it (the simulator's) or a download of them failed (result links may have expired)."""
    stored = getattr(provider, "outputs_from", None)
    if stored and call.response and not call.error.startswith(DOWNLOAD_RETRY):
        return stored(call.response)
    result = provider.poll(_request_of(call), call.external_id)
    if result.state != State.SUCCEEDED:
        raise downloads.DownloadError(f"The provider now reports {result.state}.")
    return result.outputs


def _fetched_outputs(call: ProviderCall, provider) -> list[Output]:
    outputs = _outputs_of(call, provider)
    for output in outputs:
        if output.content is None and output.kind not in ("text", "embedding"):
            limit = (
                settings.MAX_WEIGHTS_BYTES
                if output.kind == "weights"
                else settings.MAX_DOWNLOAD_BYTES
            )
            output.content = downloads.fetch(
                output.url, hosts=provider.download_hosts, max_bytes=limit
            )
            if output.extract:
                output.content = downloads.extract_from_tar(output.content, output.extract)
        if output.kind == "image":
            downloads.check_image(output.content)
        elif output.kind == "weights":
            downloads.check_safetensors(output.content)
    return outputs


def _download_failed(call: ProviderCall, exc: downloads.DownloadError) -> None:
    attempts = call.attempts + 1
    if not exc.retryable or attempts >= MAX_DOWNLOAD_ATTEMPTS:
        with transaction.atomic():
            _finish(
                _locked(call.id),
                Status.FAILED,
                error=f"The provider finished, but its result could not be saved: {exc}",
            )
        return
    ProviderCall.objects.filter(id=call.id, status=Status.SUCCEEDED).update(
        attempts=attempts,
        error=f"{DOWNLOAD_RETRY}{exc}",
        next_check_at=timezone.now() + _backoff(attempts, base=2.0, cap=120),
    )


# --- Cancel, retry, sweep ----------------------------------------------------------------
def cancel(call_id) -> None:
    """Cancel a call: queued ones are never sent; ones at the provider are canceled there."""
    with transaction.atomic():
        call = _locked(call_id)
        if call.status in ProviderCall.TERMINAL or call.status == Status.SUCCEEDED:
            return
        at_provider = call.status in (Status.SUBMITTED, Status.RUNNING)
        if call.status == Status.SUBMITTING and call.sending_at is not None:
            return  # on the wire: submit cancels it at the provider once its id is saved
        _finish(call, Status.CANCELED, error="Canceled by the user.")
    if at_provider:
        _cancel_at_provider(call, call.external_id)
    dispatch(call.provider)


def _cancel_at_provider(call: ProviderCall, external_id: str) -> None:
    try:
        get_provider(call.provider).cancel(_request_of(call), external_id)
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


def retry_unknown(call_id, *, by=None) -> None:
    """The user's explicit choice to send an `unknown` call again (it may be paid twice, so
    the budget must have room for it once more)."""
    with budgets.launching(user=by, what="Sending this call again"):
        call = _locked(call_id)
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


def sweep() -> dict:
    """The periodic pass: recover lost work, submit queued calls, poll due ones, retry
    downloads, and put right any run out of step with its calls."""
    from . import tasks

    now = timezone.now()
    stale = ProviderCall.objects.filter(status=Status.SUBMITTING, next_check_at__lt=now)
    # Claimed but never sent: safe to queue again.
    released = stale.filter(sending_at__isnull=True).update(
        status=Status.CREATED, next_check_at=None
    )
    # Sent, and no answer saved within the submit lease: the outcome is unknown.
    lost = list(stale.filter(sending_at__isnull=False).values_list("id", flat=True))
    for call_id in lost:
        _mark_unknown(
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
        _enqueue(tasks.poll_call, call_id)
    for call_id in due_downloads:
        _enqueue(tasks.download_call, call_id)
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


def webhook_received(provider: str, external_id: str) -> bool:
    """A verified webhook says a call changed: poll it now. False for ids we don't know."""
    from . import tasks

    call = ProviderCall.objects.filter(provider=provider, external_id=external_id).first()
    if call is None:
        return False
    if call.status in (Status.SUBMITTED, Status.RUNNING):
        _enqueue(tasks.poll_call, call.id)
    return True


# --- Shared ------------------------------------------------------------------------------
def _fail(call: ProviderCall, error: str) -> None:
    """A call the provider refused or failed for good: record why and free its slot."""
    with transaction.atomic():
        _finish(_locked(call.id), Status.FAILED, error=error)
    dispatch(call.provider)


def _locked(call_id) -> ProviderCall:
    return ProviderCall.objects.select_for_update().get(id=call_id)


def _finish(
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
