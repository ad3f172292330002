"""Provider webhooks: verify the signature as each provider documents it, then poll the call.

- Replicate signs with Standard Webhooks: HMAC-SHA256 over "{webhook-id}.{timestamp}.{body}"
  keyed by the base64 part of the account's "whsec_..." secret.
- fal signs with ED25519 over "{request id}\\n{user id}\\n{timestamp}\\n{sha256(body) hex}",
  verifiable with any key of fal's published JWKS.
A timestamp more than five minutes off is a replay and refused; a delivery already seen is
acknowledged and ignored; an id we don't know is acknowledged and ignored. The payload is
never trusted for results: a valid webhook only makes us poll the provider at once.
"""

import base64
import hashlib
import hmac
import json
import logging
import time

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import calls

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300
JWKS_CACHE_SECONDS = 24 * 3600


class BadSignature(Exception):
    pass


def _check_timestamp(timestamp: str) -> None:
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        raise BadSignature("Missing or malformed timestamp.") from None
    if abs(time.time() - sent) > TOLERANCE_SECONDS:
        raise BadSignature("Timestamp outside the five-minute tolerance (a replay?).")


# --- Replicate ---------------------------------------------------------------------------
def replicate_secret() -> str:
    """The account's webhook signing secret: from settings, else asked of Replicate once a day."""
    if settings.REPLICATE_WEBHOOK_SECRET:
        return settings.REPLICATE_WEBHOOK_SECRET
    secret = cache.get("replicate:webhook-secret")
    if secret is None:
        from .providers import get_provider

        secret = get_provider("replicate").webhook_secret()
        cache.set("replicate:webhook-secret", secret, JWKS_CACHE_SECONDS)
    return secret


def verify_replicate(headers, body: bytes, secret: str) -> str:
    """Check a Standard Webhooks signature; returns the webhook id."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not signatures:
        raise BadSignature("Missing webhook-id or webhook-signature.")
    _check_timestamp(timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return webhook_id
    raise BadSignature("No signature matches.")


# --- fal ---------------------------------------------------------------------------------
def fal_public_keys() -> list[bytes]:
    keys = cache.get("fal:jwks")
    if keys is None:
        response = httpx.get(settings.FAL_JWKS_URL, timeout=10)
        response.raise_for_status()
        keys = [
            base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))
            for k in response.json().get("keys", [])
            if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"
        ]
        cache.set("fal:jwks", keys, JWKS_CACHE_SECONDS)
    return keys


def verify_fal(headers, body: bytes, public_keys: list[bytes]) -> str:
    """Check fal's ED25519 signature; returns the request id."""
    request_id = headers.get("x-fal-webhook-request-id", "")
    user_id = headers.get("x-fal-webhook-user-id", "")
    timestamp = headers.get("x-fal-webhook-timestamp", "")
    signature = headers.get("x-fal-webhook-signature", "")
    if not (request_id and user_id and signature):
        raise BadSignature("Missing fal webhook headers.")
    _check_timestamp(timestamp)
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()
    try:
        raw_signature = bytes.fromhex(signature)
    except ValueError:
        raise BadSignature("Malformed signature.") from None
    for key in public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(raw_signature, message)
            return request_id
        except (InvalidSignature, ValueError):
            continue
    raise BadSignature("No key verifies the signature.")


# --- Views -------------------------------------------------------------------------------
def _receive(provider: str, delivery_id: str, external_id: str) -> HttpResponse:
    if not cache.add(f"webhook:{provider}:{delivery_id}", 1, TOLERANCE_SECONDS * 2):
        return JsonResponse({"detail": "Already received."})
    known = calls.webhook_received(provider, external_id)
    return JsonResponse({"detail": "Accepted." if known else "Unknown request id: ignored."})


@login_not_required
@csrf_exempt
@require_POST
def replicate_webhook(request):
    try:
        webhook_id = verify_replicate(request.headers, request.body, replicate_secret())
        external_id = json.loads(request.body)["id"]
    except BadSignature as exc:
        log.warning("Refused a Replicate webhook: %s", exc)
        return JsonResponse({"detail": f"Bad signature: {exc}"}, status=401)
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "The body is not a prediction or training."}, status=400)
    return _receive("replicate", webhook_id, external_id)


@login_not_required
@csrf_exempt
@require_POST
def fal_webhook(request):
    try:
        request_id = verify_fal(request.headers, request.body, fal_public_keys())
    except BadSignature as exc:
        log.warning("Refused a fal webhook: %s", exc)
        return JsonResponse({"detail": f"Bad signature: {exc}"}, status=401)
    except httpx.HTTPError as exc:
        return JsonResponse({"detail": f"Could not fetch fal's keys: {exc}"}, status=503)
    timestamp = request.headers.get("x-fal-webhook-timestamp", "")
    return _receive("fal", f"{request_id}:{timestamp}", request_id)
