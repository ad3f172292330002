"""Downloading a succeeded call's results, only from provider hosts, and handing them to its
purpose in one transaction with the `done` transition."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import downloads
from ..models import ProviderCall
from ..providers import get_provider
from ..providers.base import Output, ProviderError, State
from .purposes import handle_outputs
from .scheduling import backoff
from .transitions import finish, locked, request_of

Status = ProviderCall.Status

MAX_DOWNLOAD_ATTEMPTS = 5
DOWNLOAD_RETRY = "Download failed, retrying: "


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
        call = locked(call_id)
        if call.status != Status.SUCCEEDED:
            return
        handle_outputs(call, outputs)
        finish(call, Status.DONE, error="", delivered=len(outputs))


def _outputs_of(call: ProviderCall, provider) -> list[Output]:
    """The outputs the finishing poll saw; asked again only when they cannot be rebuilt from
    it (the simulator's) or a download of them failed (result links may have expired)."""
    stored = getattr(provider, "outputs_from", None)
    if stored and call.response and not call.error.startswith(DOWNLOAD_RETRY):
        return stored(call.response)
    result = provider.poll(request_of(call), call.external_id)
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
            finish(
                locked(call.id),
                Status.FAILED,
                error=f"The provider finished, but its result could not be saved: {exc}",
            )
        return
    ProviderCall.objects.filter(id=call.id, status=Status.SUCCEEDED).update(
        attempts=attempts,
        error=f"{DOWNLOAD_RETRY}{exc}",
        next_check_at=timezone.now() + backoff(attempts, base=2.0, cap=120),
    )
