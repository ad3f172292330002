"""Webhook receivers: signatures checked as each provider documents, replays refused."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.cache import cache

from generation.models import ProviderCall
from tests.factories import ProviderCallFactory

pytestmark = pytest.mark.django_db
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.REPLICATE_WEBHOOK_SECRET = SECRET
    cache.clear()


def replicate_headers(body: bytes, *, webhook_id="msg_1", timestamp=None, secret=SECRET):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def post(client, path, body: bytes, headers):
    return client.post(path, body, content_type="application/json", headers=headers)


@pytest.fixture
def submitted_call():
    return ProviderCallFactory(
        provider="replicate", status=ProviderCall.Status.SUBMITTED, external_id="pred_123"
    )


def test_a_well_signed_replicate_webhook_is_accepted_without_login(client, submitted_call):
    body = json.dumps({"id": "pred_123", "status": "succeeded"}).encode()
    response = post(client, "/webhooks/replicate", body, replicate_headers(body))
    assert response.status_code == 200
    assert response.json()["detail"] == "Accepted."


def test_a_tampered_body_is_refused(client, submitted_call):
    body = json.dumps({"id": "pred_123", "status": "succeeded"}).encode()
    headers = replicate_headers(body)
    response = post(client, "/webhooks/replicate", body.replace(b"succeeded", b"failed"), headers)
    assert response.status_code == 401


def test_a_signature_made_with_another_secret_is_refused(client, submitted_call):
    body = json.dumps({"id": "pred_123"}).encode()
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-xx").decode()
    response = post(client, "/webhooks/replicate", body, replicate_headers(body, secret=other))
    assert response.status_code == 401


def test_an_old_timestamp_is_refused_as_a_replay(client, submitted_call):
    body = json.dumps({"id": "pred_123"}).encode()
    headers = replicate_headers(body, timestamp=int(time.time()) - 3600)
    response = post(client, "/webhooks/replicate", body, headers)
    assert response.status_code == 401
    assert "tolerance" in response.json()["detail"]


def test_the_same_delivery_twice_is_acknowledged_once(client, submitted_call):
    body = json.dumps({"id": "pred_123"}).encode()
    headers = replicate_headers(body)
    assert post(client, "/webhooks/replicate", body, headers).json()["detail"] == "Accepted."
    assert (
        post(client, "/webhooks/replicate", body, headers).json()["detail"] == "Already received."
    )


def test_an_unknown_prediction_id_is_ignored(client):
    body = json.dumps({"id": "pred_nobody"}).encode()
    response = post(client, "/webhooks/replicate", body, replicate_headers(body))
    assert response.status_code == 200
    assert "ignored" in response.json()["detail"]


def test_webhooks_take_only_post(client):
    assert client.get("/webhooks/replicate").status_code == 405
    assert client.get("/webhooks/fal").status_code == 405


@pytest.fixture
def fal_key():
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cache.set("fal:jwks", [public], 3600)  # as fetched from fal's JWKS
    return key


def fal_headers(key, body: bytes, *, request_id="req_1", timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    message = "\n".join([request_id, "user_1", timestamp, hashlib.sha256(body).hexdigest()])
    return {
        "x-fal-webhook-request-id": request_id,
        "x-fal-webhook-user-id": "user_1",
        "x-fal-webhook-timestamp": timestamp,
        "x-fal-webhook-signature": key.sign(message.encode()).hex(),
    }


def test_a_well_signed_fal_webhook_is_accepted(client, fal_key):
    ProviderCallFactory(provider="fal", status=ProviderCall.Status.SUBMITTED, external_id="req_1")
    body = json.dumps({"request_id": "req_1", "status": "OK"}).encode()
    response = post(client, "/webhooks/fal", body, fal_headers(fal_key, body))
    assert response.json()["detail"] == "Accepted."


def test_a_fal_webhook_signed_by_another_key_is_refused(client, fal_key):
    body = json.dumps({"request_id": "req_1"}).encode()
    response = post(client, "/webhooks/fal", body, fal_headers(Ed25519PrivateKey.generate(), body))
    assert response.status_code == 401


def test_a_fal_webhook_with_an_old_timestamp_is_refused(client, fal_key):
    body = json.dumps({"request_id": "req_1"}).encode()
    headers = fal_headers(fal_key, body, timestamp=int(time.time()) - 900)
    assert post(client, "/webhooks/fal", body, headers).status_code == 401


# --- Hostile and careless requests: a clean 4xx, never a 500, no work before the headers ----
def test_a_replicate_webhook_without_headers_is_refused_when_no_secret_is_configured(
    client, settings
):
    settings.REPLICATE_WEBHOOK_SECRET = ""
    settings.REPLICATE_API_TOKEN = ""
    response = post(client, "/webhooks/replicate", b"{}", {})
    assert response.status_code == 400
    assert "webhook-id" in response.json()["detail"]


def test_a_signed_replicate_webhook_is_refused_when_no_secret_can_be_had(client, settings):
    settings.REPLICATE_WEBHOOK_SECRET = ""
    settings.REPLICATE_API_TOKEN = ""
    body = json.dumps({"id": "pred_123"}).encode()
    response = post(client, "/webhooks/replicate", body, replicate_headers(body))
    assert response.status_code == 401
    assert response.json() == {"detail": "Webhooks from this provider cannot be verified."}


@pytest.mark.parametrize(
    "timestamp", ["9" * 400, "-5", "1e10", "", " 1700000000", "1700000000.5", "１２３"]
)
def test_an_absurd_replicate_timestamp_is_refused_with_400(client, submitted_call, timestamp):
    body = json.dumps({"id": "pred_123"}).encode()
    headers = {**replicate_headers(body), "webhook-timestamp": timestamp}
    response = post(client, "/webhooks/replicate", body, headers)
    assert response.status_code == 400
    assert "webhook-timestamp" in response.json()["detail"]


@pytest.mark.parametrize(
    "signature", ["v1", "v1,not base64!", "v1,a,b", "x" * 5000, "v2,AAAA", "v1,"]
)
def test_a_malformed_replicate_signature_is_refused_cleanly(client, submitted_call, signature):
    body = json.dumps({"id": "pred_123"}).encode()
    headers = {**replicate_headers(body), "webhook-signature": signature}
    assert post(client, "/webhooks/replicate", body, headers).status_code in (400, 401)


@pytest.mark.parametrize(
    "body", [b"\xff\xfe not utf-8", b"[]", b'{"id": 5}', b'{"id": {"a": 1}}', b'{"id": "a b"}']
)
def test_a_signed_body_that_is_not_a_prediction_is_refused_with_400(client, body):
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    timestamp = str(int(time.time()))
    digest = hmac.new(key, f"msg_1.{timestamp}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    assert post(client, "/webhooks/replicate", body, headers).status_code == 400


def test_an_absurd_fal_timestamp_is_refused_with_400(client, fal_key):
    body = json.dumps({"request_id": "req_1"}).encode()
    headers = {**fal_headers(fal_key, body), "x-fal-webhook-timestamp": "9" * 400}
    response = post(client, "/webhooks/fal", body, headers)
    assert response.status_code == 400
    assert "x-fal-webhook-timestamp" in response.json()["detail"]


@pytest.fixture
def jwks(fal):
    """fal's keys served by the fal fake; each fetch is logged as a `jwks` request."""
    return fal


def jwks_fetches(fake) -> int:
    return len([c for c in fake.requests.all() if ".well-known" in c.url])


def test_a_fal_webhook_without_headers_is_refused_before_fetching_keys(client, jwks):
    response = post(client, "/webhooks/fal", b"{}", {})
    assert response.status_code == 400
    assert jwks_fetches(jwks) == 0


def test_fals_keys_are_fetched_once_and_cached(client, jwks):
    ProviderCallFactory(provider="fal", status=ProviderCall.Status.SUBMITTED, external_id="req_1")
    for n in range(3):
        body = json.dumps({"request_id": "req_1", "n": n}).encode()
        stamp = str(int(time.time()) - n)  # three distinct deliveries
        headers = {
            "x-fal-webhook-request-id": "req_1",
            "x-fal-webhook-user-id": jwks.user_id,
            "x-fal-webhook-timestamp": stamp,
            "x-fal-webhook-signature": jwks.sign("req_1", stamp, body),
        }
        assert post(client, "/webhooks/fal", body, headers).status_code == 200
    assert jwks_fetches(jwks) == 1


def test_a_failure_to_fetch_fals_keys_is_cached_and_never_shown(client, jwks, settings):
    settings.FAL_JWKS_URL = jwks.jwks_url.replace("jwks.json", "missing.json")
    body = json.dumps({"request_id": "req_1"}).encode()
    stamp = str(int(time.time()))
    headers = {
        "x-fal-webhook-request-id": "req_1",
        "x-fal-webhook-user-id": jwks.user_id,
        "x-fal-webhook-timestamp": stamp,
        "x-fal-webhook-signature": jwks.sign("req_1", stamp, body),
    }
    first = post(client, "/webhooks/fal", body, headers)
    second = post(client, "/webhooks/fal", body, headers)
    assert first.status_code == second.status_code == 503
    assert first.json() == {
        "detail": "Webhook keys are unavailable right now: deliver again later."
    }
    assert "missing" not in first.content.decode() and "404" not in first.content.decode()
    assert jwks_fetches(jwks) == 1
