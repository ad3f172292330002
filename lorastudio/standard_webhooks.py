"""Standard Webhooks (https://www.standardwebhooks.com): verify what we receive, sign what we send.

The `standardwebhooks` package computes and compares the HMAC. What it leaves to its caller is
done here, before any signature work: headers of a sane shape (an id of printable characters,
a timestamp of at most 12 digits, a bounded signature header), and a body that is UTF-8. A
request that fails those is not a webhook delivery (`MalformedWebhook`, 400); one that is well
formed but not signed with the secret, or sent too long ago, is refused (`BadSignature`, 401).
"""

import binascii
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

TOLERANCE_SECONDS = 300
MAX_SIGNATURE_HEADER = 2048
_ID = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces: ids and cache keys
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class MalformedWebhook(Exception):
    """The request is not a webhook delivery: a header is missing or has an absurd shape."""


class BadSignature(Exception):
    """A well-formed delivery that is not signed by the secret's holder, or is a replay."""


def check_id(value: str | None, name: str) -> str:
    """An id that is safe to log, to use in a cache key and to look up."""
    if not value or not _ID.fullmatch(value):
        raise MalformedWebhook(f"Missing or malformed {name}.")
    return value


def check_timestamp(value: str | None, name: str = "webhook-timestamp") -> int:
    """Seconds since the epoch, within five minutes of now; checked before any signature."""
    if not value or not _TIMESTAMP.fullmatch(value):
        raise MalformedWebhook(f"Missing or malformed {name}: seconds since 1970, as digits.")
    sent = int(value)
    if abs(time.time() - sent) > TOLERANCE_SECONDS:
        raise BadSignature("Timestamp outside the five-minute tolerance (a replay?).")
    return sent


def verify(*, secret: str, headers: Mapping[str, str], body: bytes) -> str:
    """Check a Standard Webhooks delivery signed with `secret` ("whsec_..."); returns its id."""
    webhook_id = check_id(headers.get("webhook-id"), "webhook-id")
    timestamp = headers.get("webhook-timestamp")
    check_timestamp(timestamp)
    signatures = headers.get("webhook-signature") or ""
    if not signatures or len(signatures) > MAX_SIGNATURE_HEADER:
        raise MalformedWebhook("Missing or malformed webhook-signature.")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise MalformedWebhook("The body is not UTF-8 text.") from None
    delivery = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signatures,
    }
    try:
        Webhook(secret).verify(text, delivery, json_parse=False)
    except WebhookVerificationError:
        raise BadSignature("No signature matches.") from None
    except (ValueError, binascii.Error):
        # The package splits "v1,<base64>" and decodes it without guarding either step.
        raise BadSignature("Malformed signature.") from None
    return webhook_id


def sign(
    *, secret: str, webhook_id: str, body: bytes, timestamp: datetime | None = None
) -> dict[str, str]:
    """The headers that sign `body` for a receiver holding `secret` (our outgoing webhooks)."""
    sent = (timestamp or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, sent, body.decode()),
    }
