"""The ProviderCall state machine: every paid request submitted at most once, never lost.

    created ─dispatch─▶ submitting ─submit─▶ submitted ─poll/webhook─▶ running ─▶ succeeded
       ▲  (429/5xx: back, with backoff)   │                                       │ download
       └──────────────────────────────────┘          failed / canceled ◀──────────┴─▶ done
                                     unknown (the worker died while the submit was on the wire)

- A row exists before anything is sent. `dispatch` claims queued calls up to the provider's
  concurrency cap; `submit` commits `sending_at` *before* the HTTP request and the provider's
  id right after it. A row left in `submitting` with `sending_at` set may have reached the
  provider: it becomes `unknown` and is never re-sent on its own (the user may retry it).
- Polls are scheduled per call from the endpoint's typical duration, then back off.
  Webhooks only trigger an immediate poll: the provider's API stays the source of truth.
- Results are downloaded at once, only from provider hosts, and stored in one transaction
  with the `done` transition, so a crash mid-download just means the download runs again.
"""

import logging
import random
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from . import downloads
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

log = logging.getLogger(__name__)
Status = ProviderCall.Status

FIRST_POLL_MAX_SECONDS = 5.0
MAX_SUBMIT_ATTEMPTS = 8
MAX_POLL_INTERVAL = 60.0
MAX_DOWNLOAD_ATTEMPTS = 5

# Run when a call's results are in: purpose (call.context["purpose"]) → handler(call, outputs).
OutputHandler = Callable[[ProviderCall, list[Output]], None]
_output_handlers: dict[str, OutputHandler] = {}
# Turn a call's stored inputs into the provider task (resolving our file references to URLs).
TaskBuilder = Callable[[ProviderCall], object]
_task_builders: dict[str, TaskBuilder] = {}


def register_output_handler(purpose: str, handler: OutputHandler) -> None:
    _output_handlers[purpose] = handler


def register_task_builder(purpose: str, builder: TaskBuilder) -> None:
    _task_builders[purpose] = builder


def _backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> timedelta:
    """Exponential backoff with full jitter."""
    return timedelta(seconds=random.uniform(base, min(cap, base * 2**attempt)))


def _request_of(call: ProviderCall) -> Request:
    return Request(endpoint=call.endpoint, input=call.request)


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
        ProviderCall.objects.filter(id__in=ids).update(
            status=Status.SUBMITTING,
            next_check_at=now + timedelta(seconds=settings.CALL_SUBMIT_LEASE_SECONDS),
            sending_at=None,
        )
        transaction.on_commit(lambda: [tasks.submit_call.delay(str(i)) for i in ids])
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
        call.save(update_fields=["request", "endpoint", "sending_at", "updated_at"])

    try:
        external_id = provider.submit(request, webhook_url=_webhook_url(call.provider))
    except TransientError as exc:
        _release_for_retry(call, exc)
        return
    except OutcomeUnknown as exc:
        _mark_unknown(call, str(exc))
        return
    except ProviderError as exc:
        _fail(call, str(exc))
        return

    now = timezone.now()
    ProviderCall.objects.filter(id=call.id, status=Status.SUBMITTING).update(
        status=Status.SUBMITTED,
        external_id=external_id,
        submitted_at=now,
        next_check_at=now + timedelta(seconds=_first_poll_delay(call)),
        updated_at=now,
    )
    refresh_run(call.run_id)
    if GenerationRun.objects.filter(id=call.run_id, status=GenerationRun.Status.CANCELED).exists():
        cancel(call.id)  # the run was canceled while this request was on the wire


def _release_for_retry(call: ProviderCall, exc: ProviderError) -> None:
    attempts = call.attempts + 1
    if attempts >= MAX_SUBMIT_ATTEMPTS:
        with transaction.atomic():
            _finish(_locked(call.id), Status.FAILED, error=f"Gave up after {attempts} tries: {exc}")
        return
    ProviderCall.objects.filter(id=call.id, status=Status.SUBMITTING).update(
        status=Status.CREATED,
        sending_at=None,
        attempts=attempts,
        error=f"Retrying: {exc}",
        next_check_at=timezone.now() + _backoff(attempts),
        updated_at=timezone.now(),
    )


def _mark_unknown(call: ProviderCall, reason: str) -> None:
    ProviderCall.objects.filter(id=call.id, status=Status.SUBMITTING).update(
        status=Status.UNKNOWN,
        error=(
            f"{reason} The provider may have accepted this request: check its dashboard, then "
            "retry (which may pay twice) or give up."
        ),
        next_check_at=None,
        updated_at=timezone.now(),
    )
    refresh_run(call.run_id)


def _webhook_url(provider: str) -> str | None:
    if not settings.PUBLIC_BASE_URL or provider == "local":
        return None
    return f"{settings.PUBLIC_BASE_URL}/webhooks/{provider}"


# --- Polling -----------------------------------------------------------------------------
def _expected_seconds(call: ProviderCall) -> float:
    learned = cache.get(f"call-duration:{call.provider}:{call.endpoint}")
    if learned:
        return float(learned)
    if call.provider == "local":
        return max(settings.LOCAL_PROVIDER_DELAY, 0.2)
    return model_for(call.provider, call.task).expected_seconds


def _learn_duration(call: ProviderCall) -> None:
    if not call.submitted_at:
        return
    seen = (timezone.now() - call.submitted_at).total_seconds()
    key = f"call-duration:{call.provider}:{call.endpoint}"
    previous = cache.get(key)
    cache.set(key, seen if previous is None else 0.7 * float(previous) + 0.3 * seen, 86400)


def _first_poll_delay(call: ProviderCall) -> float:
    """A little before the call is expected to end (so shorter runs are noticed and learned),
    and early for long ones, which may turn out quick."""
    return max(0.2, min(0.8 * _expected_seconds(call), FIRST_POLL_MAX_SECONDS))


def _next_poll_delay(call: ProviderCall) -> float:
    """Around the expected end, poll often; well past it, back off geometrically."""
    expected = _expected_seconds(call)
    waited = (timezone.now() - (call.submitted_at or timezone.now())).total_seconds()
    if waited < 2 * expected:
        return max(0.2, 0.05 * expected)
    return min(MAX_POLL_INTERVAL, max(1.0, 0.25 * waited))


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
        call.polls = F("polls") + 1
        if result.logs:
            call.logs = "\n".join(result.logs[-200:])
        if result.progress is not None:
            call.progress = max(0, min(100, result.progress))
        if result.raw is not None:
            call.response = result.raw
        if result.state in (State.QUEUED, State.RUNNING):
            if result.state == State.RUNNING:
                call.status = Status.RUNNING
            call.next_check_at = timezone.now() + timedelta(seconds=_next_poll_delay(call))
            call.save()
        elif result.state == State.SUCCEEDED:
            _learn_duration(call)
            call.status, call.progress, call.next_check_at = Status.SUCCEEDED, 100, timezone.now()
            if result.units is not None:
                call.units = result.units
            call.save()
            transaction.on_commit(lambda: tasks.download_call.delay(str(call_id)))
            freed = True
        elif result.state == State.CANCELED:
            _finish(call, Status.CANCELED, error="Canceled at the provider.")
            freed = True
        else:
            _finish(call, Status.FAILED, error=result.error or "The provider reported a failure.")
            freed = True
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


def _fetched_outputs(call: ProviderCall, provider) -> list[Output]:
    # Fresh result URLs: the ones seen at poll time may have expired meanwhile.
    result = provider.poll(_request_of(call), call.external_id)
    if result.state != State.SUCCEEDED:
        raise downloads.DownloadError(f"The provider now reports {result.state}.")
    for output in result.outputs:
        if output.content is None and output.kind != "text":
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
    return result.outputs


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
    ProviderCall.objects.filter(id=call.id).update(
        attempts=attempts,
        error=f"Download failed, retrying: {exc}",
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
            return  # on the wire: let submit finish, then cancel at the provider
        _finish(call, Status.CANCELED, error="Canceled by the user.")
    if at_provider:
        try:
            get_provider(call.provider).cancel(_request_of(call), call.external_id)
        except ProviderError as exc:
            ProviderCall.objects.filter(id=call.id).update(
                error=f"Canceled here; the provider did not confirm: {exc}"
            )
    dispatch(call.provider)


def cancel_queued(run: GenerationRun) -> int:
    """Cancel, in one statement, the calls of a run that were never sent."""
    return ProviderCall.objects.filter(run=run, status=Status.CREATED).update(
        status=Status.CANCELED,
        error="Canceled by the user before it was sent.",
        actual_cost=Decimal("0"),
        finished_at=timezone.now(),
        next_check_at=None,
        updated_at=timezone.now(),
    )


def retry_unknown(call_id) -> None:
    """The user's explicit choice to send an `unknown` call again (it may be paid twice)."""
    with transaction.atomic():
        call = _locked(call_id)
        if call.status != Status.UNKNOWN:
            return
        call.status, call.sending_at, call.next_check_at = Status.CREATED, None, None
        call.error = "Sent again by the user after an unknown outcome."
        call.save()
    refresh_run(call.run_id)
    dispatch(call.provider)


def sweep() -> dict:
    """The periodic pass: recover lost work, submit queued calls, poll due ones, retry downloads."""
    from . import tasks

    now = timezone.now()
    stale = ProviderCall.objects.filter(status=Status.SUBMITTING, next_check_at__lt=now)
    # Claimed but never sent: safe to queue again.
    released = stale.filter(sending_at__isnull=True).update(
        status=Status.CREATED, next_check_at=None
    )
    # Sent, but nobody saved what the provider said: the outcome is unknown.
    lost = list(stale.filter(sending_at__isnull=False).values_list("id", flat=True))
    for call_id in lost:
        call = ProviderCall.objects.get(id=call_id)
        _mark_unknown(call, "The worker stopped while this request was being submitted.")

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
        tasks.poll_call.delay(str(call_id))
    for call_id in due_downloads:
        tasks.download_call.delay(str(call_id))
    return {
        "released": released,
        "unknown": len(lost),
        "polls": len(due_polls),
        "downloads": len(due_downloads),
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
        tasks.poll_call.delay(str(call.id))
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


def refresh_run(run_id) -> None:
    """Recompute a run's status, error summary and cost from its calls."""
    if run_id is None:
        return
    calls = ProviderCall.objects.filter(run_id=run_id)
    counts = dict.fromkeys(Status.values, 0)
    for status in calls.values_list("status", flat=True):
        counts[status] += 1
    total = sum(counts.values())
    done, failed, canceled, unknown = (
        counts[Status.DONE],
        counts[Status.FAILED],
        counts[Status.CANCELED],
        counts[Status.UNKNOWN],
    )
    open_ = total - done - failed - canceled - unknown
    run = GenerationRun.objects.get(id=run_id)
    if run.status == GenerationRun.Status.CANCELED:
        status = run.status
    elif open_:
        started = counts[Status.CREATED] < open_ or done or failed
        status = GenerationRun.Status.RUNNING if started else GenerationRun.Status.PENDING
    elif done == total:
        status = GenerationRun.Status.SUCCEEDED
    elif done or unknown:
        status = GenerationRun.Status.PARTIAL
    elif canceled and not failed:
        status = GenerationRun.Status.CANCELED
    else:
        status = GenerationRun.Status.FAILED
    problems = []
    if failed:
        first = (
            calls.filter(status=Status.FAILED)
            .exclude(error="")
            .values_list("error", flat=True)
            .first()
        )
        problems.append(f"{failed} of {total} calls failed" + (f": {first}" if first else "."))
    if unknown:
        problems.append(f"{unknown} call(s) have an unknown outcome and need a decision.")
    GenerationRun.objects.filter(id=run_id).update(
        status=status,
        error=" ".join(problems),
        actual_cost=calls.aggregate(total=Sum("actual_cost"))["total"] or Decimal("0"),
        finished_at=None if open_ else timezone.now(),
        updated_at=timezone.now(),
    )
