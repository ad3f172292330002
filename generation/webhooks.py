"""Provider webhooks: verify the signature as each provider documents it, then poll the call.

- Replicate signs with Standard Webhooks (lorastudio.standard_webhooks, with the account's
  "whsec_..." secret).
- fal signs with ED25519 over "{request id}\\n{user id}\\n{timestamp}\\n{sha256(body) hex}",
  verifiable with any key of fal's published JWKS.
Headers are checked for shape before any key is fetched or any signature computed, so an
anonymous request costs us nothing. Keys and secrets fetched from the providers are cached,
and so are failures to fetch them. A timestamp more than five minutes off is a replay and
refused; a delivery already seen is acknowledged and ignored; an id we don't know is
acknowledged and ignored. The payload is never trusted for results: a valid webhook only
makes us poll the provider at once. Answers never carry internal errors; the log does.
"""

import base64
import hashlib
import json
import logging
import re
from dataclasses import dataclass

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lorastudio import standard_webhooks
from lorastudio.standard_webhooks import BadSignature, MalformedWebhook, check_id, check_timestamp

from . import calls
from .providers.base import ProviderError

log = logging.getLogger(__name__)
KEYS_CACHE_SECONDS = 24 * 3600
# After a failed fetch of keys or secret, anonymous requests must not make us try again at once.
KEYS_FAILURE_CACHE_SECONDS = 60
KEYS_FETCH_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
_FAL_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")  # an ED25519 signature, hex


class KeysUnavailable(Exception):
    """The provider's keys or secret cannot be had right now (or are not configured)."""

    def __init__(self, *, retry: bool):
        super().__init__()
        self.retry = retry


def _refusal(exc: Exception) -> JsonResponse:
    if isinstance(exc, MalformedWebhook):
        return JsonResponse({"detail": f"Not a webhook delivery: {exc}"}, status=400)
    if isinstance(exc, BadSignature):
        return JsonResponse({"detail": f"Bad signature: {exc}"}, status=401)
    assert isinstance(exc, KeysUnavailable)
    if exc.retry:
        response = JsonResponse(
            {"detail": "Webhook keys are unavailable right now: deliver again later."}, status=503
        )
        response["Retry-After"] = str(KEYS_FAILURE_CACHE_SECONDS)
        return response
    return JsonResponse({"detail": "Webhooks from this provider cannot be verified."}, status=401)


# --- Replicate ---------------------------------------------------------------------------
def replicate_secret() -> str:
    """The account's webhook signing secret: from settings, else asked of Replicate once a day."""
    if settings.REPLICATE_WEBHOOK_SECRET:
        return settings.REPLICATE_WEBHOOK_SECRET
    secret = cache.get("replicate:webhook-secret")
    if secret:
        return secret
    if not settings.REPLICATE_API_TOKEN:
        log.warning(
            "Refused a Replicate webhook: set REPLICATE_WEBHOOK_SECRET (or REPLICATE_API_TOKEN, "
            "to ask Replicate for it) to verify Replicate's webhooks."
        )
        raise KeysUnavailable(retry=False)
    if cache.get("replicate:webhook-secret-failed"):
        raise KeysUnavailable(retry=True)
    from .providers import get_provider

    try:
        secret = get_provider("replicate").webhook_secret()
    except ProviderError as exc:
        log.warning("Could not fetch Replicate's webhook secret: %s", exc)
        cache.set("replicate:webhook-secret-failed", 1, KEYS_FAILURE_CACHE_SECONDS)
        raise KeysUnavailable(retry=True) from exc
    cache.set("replicate:webhook-secret", secret, KEYS_CACHE_SECONDS)
    return secret


def verify_replicate(headers, body: bytes) -> str:
    """Check the headers' shape, then the Standard Webhooks signature; returns the webhook id."""
    check_id(headers.get("webhook-id"), "webhook-id")
    check_timestamp(headers.get("webhook-timestamp"))
    if not headers.get("webhook-signature"):
        raise MalformedWebhook("Missing webhook-signature.")
    return standard_webhooks.verify(secret=replicate_secret(), headers=headers, body=body)


def _replicate_id(body: bytes) -> str:
    try:
        external_id = json.loads(body)["id"]
    except (ValueError, KeyError, TypeError):
        raise MalformedWebhook("The body is not a prediction or training.") from None
    if not isinstance(external_id, str):
        raise MalformedWebhook("The body's id is not a string.")
    return check_id(external_id, "id")


# --- fal ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FalHeaders:
    request_id: str
    user_id: str
    timestamp: str
    signature: bytes


def fal_headers(headers) -> FalHeaders:
    """fal's webhook headers, checked for shape (and the timestamp for age) before any key."""
    request_id = check_id(headers.get("x-fal-webhook-request-id"), "x-fal-webhook-request-id")
    user_id = check_id(headers.get("x-fal-webhook-user-id"), "x-fal-webhook-user-id")
    timestamp = headers.get("x-fal-webhook-timestamp")
    check_timestamp(timestamp, "x-fal-webhook-timestamp")
    signature = headers.get("x-fal-webhook-signature") or ""
    if not _FAL_SIGNATURE.fullmatch(signature):
        raise MalformedWebhook("Missing or malformed x-fal-webhook-signature.")
    return FalHeaders(request_id, user_id, timestamp, bytes.fromhex(signature))


def fal_public_keys() -> list[bytes]:
    """fal's webhook keys from its JWKS, cached for a day; a failed fetch is cached a minute."""
    keys = cache.get("fal:jwks")
    if keys:
        return keys
    if cache.get("fal:jwks-failed"):
        raise KeysUnavailable(retry=True)
    try:
        response = httpx.get(settings.FAL_JWKS_URL, timeout=KEYS_FETCH_TIMEOUT)
        response.raise_for_status()
        keys = [
            base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))
            for k in response.json().get("keys", [])
            if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"
        ]
        if not keys:
            raise ValueError("no Ed25519 key in the JWKS")
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("Could not fetch fal's webhook keys from %s: %s", settings.FAL_JWKS_URL, exc)
        cache.set("fal:jwks-failed", 1, KEYS_FAILURE_CACHE_SECONDS)
        raise KeysUnavailable(retry=True) from exc
    cache.set("fal:jwks", keys, KEYS_CACHE_SECONDS)
    return keys


def verify_fal(headers, body: bytes, public_keys: list[bytes] | None = None) -> str:
    """Check fal's ED25519 signature; returns the request id. Keys are fetched only for
    well-formed headers."""
    parsed = fal_headers(headers)
    message = "\n".join(
        [parsed.request_id, parsed.user_id, parsed.timestamp, hashlib.sha256(body).hexdigest()]
    ).encode()
    for key in fal_public_keys() if public_keys is None else public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(parsed.signature, message)
            return parsed.request_id
        except (InvalidSignature, ValueError):
            continue
    raise BadSignature("No key verifies the signature.")


# --- Views -------------------------------------------------------------------------------
def _receive(provider: str, delivery_id: str, external_id: str) -> HttpResponse:
    if not cache.add(
        f"webhook:{provider}:{delivery_id}", 1, standard_webhooks.TOLERANCE_SECONDS * 2
    ):
        return JsonResponse({"detail": "Already received."})
    known = calls.webhook_received(provider, external_id)
    return JsonResponse({"detail": "Accepted." if known else "Unknown request id: ignored."})


@login_not_required
@csrf_exempt
@require_POST
def replicate_webhook(request):
    try:
        webhook_id = verify_replicate(request.headers, request.body)
        external_id = _replicate_id(request.body)
    except (MalformedWebhook, BadSignature, KeysUnavailable) as exc:
        log.warning("Refused a Replicate webhook: %s", exc or type(exc).__name__)
        return _refusal(exc)
    return _receive("replicate", webhook_id, external_id)


@login_not_required
@csrf_exempt
@require_POST
def fal_webhook(request):
    try:
        request_id = verify_fal(request.headers, request.body)
    except (MalformedWebhook, BadSignature, KeysUnavailable) as exc:
        log.warning("Refused a fal webhook: %s", exc or type(exc).__name__)
        return _refusal(exc)
    timestamp = request.headers.get("x-fal-webhook-timestamp", "")
    return _receive("fal", f"{request_id}:{timestamp}", request_id)
