"""The Standard Webhooks signer and verifier we use for Replicate's webhooks and our own."""

import ast
import base64
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lorastudio import standard_webhooks
from lorastudio.standard_webhooks import BadSignature, MalformedWebhook

SECRET = "whsec_" + base64.b64encode(b"a-secret-of-thirty-two-bytes-xyz").decode()


def test_signed_headers_carry_the_hmac_the_standard_describes():
    sent = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    headers = standard_webhooks.sign(
        secret=SECRET, webhook_id="msg_1", body=b'{"a": 1}', timestamp=sent
    )
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, b'msg_1.1777636800.{"a": 1}', hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1777636800",
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_what_we_sign_is_verified_and_returns_its_id():
    headers = standard_webhooks.sign(secret=SECRET, webhook_id="msg_2", body=b"{}")
    assert standard_webhooks.verify(secret=SECRET, headers=headers, body=b"{}") == "msg_2"


def test_a_changed_body_is_a_bad_signature():
    headers = standard_webhooks.sign(secret=SECRET, webhook_id="msg_3", body=b"{}")
    with pytest.raises(BadSignature):
        standard_webhooks.verify(secret=SECRET, headers=headers, body=b"{ }")


@pytest.mark.parametrize(
    "header, value",
    [("webhook-id", ""), ("webhook-id", "a\x00b"), ("webhook-timestamp", "9" * 400)],
)
def test_malformed_headers_are_refused_before_the_signature(header, value):
    headers = standard_webhooks.sign(secret=SECRET, webhook_id="msg_4", body=b"{}")
    headers[header] = value
    with pytest.raises(MalformedWebhook):
        standard_webhooks.verify(secret=SECRET, headers=headers, body=b"{}")


def test_one_module_signs_and_verifies():
    # Our outgoing webhooks and Replicate's incoming ones go through this module only: a second
    # signer beside it would drift (timestamps, encodings) without any test noticing.
    root = Path(__file__).resolve().parents[2]
    importers = set()
    for app in ("characters", "generation", "datasets", "training", "lorastudio"):
        for path in (root / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if any(name.split(".")[0] == "standardwebhooks" for name in names):
                    importers.add(path.relative_to(root).as_posix())
    assert importers == {"lorastudio/standard_webhooks.py"}
