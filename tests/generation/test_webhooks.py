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
