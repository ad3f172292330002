"""Outgoing webhooks: tell this installation's downstream tools when a pin changes or a
training ends, signed the Standard Webhooks way, retried with backoff, every try logged.

Signature: headers `webhook-id`, `webhook-timestamp` and `webhook-signature` =
`v1,` + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")), made by the
`standardwebhooks` library, so any Standard Webhooks verifier accepts it.

Targets are only http(s) URLs, and by default never private, loopback, link-local or
otherwise internal addresses (SSRF): the app must not become a way to reach the inside of its
own network. WEBHOOKS_ALLOW_PRIVATE_TARGETS=true allows them (local use, tests). The check
runs at registration and again before every delivery (DNS may have changed), and redirects
are not followed.
"""

import ipaddress
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from lorastudio import queueing
from lorastudio.errors import Refusal

from .models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)
PIN_CHANGED = WebhookEndpoint.Event.PIN_CHANGED
TRAINING_ENDED = WebhookEndpoint.Event.TRAINING_ENDED
MAX_ATTEMPTS = 6
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# A pending delivery whose try was due this long ago lost its message: it is queued again.
LOST_AFTER = timedelta(minutes=1)


class WebhookRefused(Refusal):
    """A webhook URL we will not send to; the message says why."""


# --- Where we may send ---------------------------------------------------------------------
def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (ip.version == 6 and ip.ipv4_mapped is not None and _internal(str(ip.ipv4_mapped)))
    )


def check_target(url: str) -> None:
    """Refuse URLs that are not http(s) or that lead into a private network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("A webhook URL must start with http:// or https:// and name a host.")
    if parts.username or parts.password:
        raise WebhookRefused("Put no user name or password in a webhook URL.")
    if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookRefused(f"The host “{parts.hostname}” does not resolve.") from None
    if any(_internal(info[4][0]) for info in infos):
        raise WebhookRefused(
            f"“{parts.hostname}” is a private, loopback or internal address: webhooks go only "
            "to public hosts (WEBHOOKS_ALLOW_PRIVATE_TARGETS=true allows others)."
        )


# --- Endpoints -----------------------------------------------------------------------------
def create_endpoint(
    *, url: str, events: list[str] | None = None, description: str = "", created_by=None
) -> WebhookEndpoint:
    """Register a URL for this installation's events; its secret is made here."""
    url = url.strip()
    check_target(url)
    events = list(dict.fromkeys(events or []))
    unknown = set(events) - set(WebhookEndpoint.Event.values)
    if unknown:
        raise WebhookRefused(
            f"Unknown event {', '.join(sorted(unknown))}: use "
            f"{' or '.join(WebhookEndpoint.Event.values)}."
        )
    return WebhookEndpoint.objects.create(
        url=url,
        events=events,
        description=description,
        created_by=created_by if isinstance(created_by, AbstractBaseUser) else None,
    )


def delete_endpoint(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


# --- Events --------------------------------------------------------------------------------
def emit(event_type: str, data: dict) -> list[WebhookDelivery]:
    """Queue the event for every active endpoint that wants it; sent after commit."""
    from . import tasks

    body = {
        "type": str(event_type),
        "timestamp": timezone.now().isoformat(),
        "data": data,
    }
    payload = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    deliveries = [
        # Due now: if its message is lost, the periodic pass finds it by this time.
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type=event_type,
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        for endpoint in WebhookEndpoint.objects.filter(active=True)
        if endpoint.wants(event_type)
    ]
    for delivery in deliveries:
        queueing.enqueue(tasks.deliver_webhook, str(delivery.id))
    return deliveries


def signed_headers(delivery: WebhookDelivery, body: str, *, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    signature = Webhook(delivery.endpoint.secret).sign(delivery.message_id, now, body)
    return {
        "content-type": "application/json",
        "user-agent": "LoRA-Studio-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def _backoff(attempts: int) -> int:
    """30 s, 2 min, 8 min, 32 min, ~2 h between tries."""
    return 30 * 4 ** (attempts - 1)


def deliver(delivery_id) -> int | None:
    """Send one delivery once. Returns seconds until the next try, or None when it is over."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(id=delivery_id, status=WebhookDelivery.Status.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
            .first()
        )
        if delivery is None:
            return None  # delivered, given up, or being sent by another worker
        delivery.attempts += 1
        body = json.dumps(delivery.payload, separators=(",", ":"))
        outcome = _send(delivery, body)
        if outcome is None:
            delivery.status, delivery.delivered_at, delivery.error = (
                WebhookDelivery.Status.DELIVERED,
                timezone.now(),
                "",
            )
            delivery.next_attempt_at = None
        else:
            delivery.error = outcome[:500]
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
            else:
                delivery.next_attempt_at = timezone.now() + timedelta(
                    seconds=_backoff(delivery.attempts)
                )
        delivery.save()
    if delivery.status == WebhookDelivery.Status.PENDING:
        return _backoff(delivery.attempts)
    return None


def _send(delivery: WebhookDelivery, body: str) -> str | None:
    """POST the body; None on a 2xx answer, otherwise what went wrong."""
    try:
        check_target(delivery.endpoint.url)
    except WebhookRefused as exc:
        return exc.message
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            response = client.post(
                delivery.endpoint.url, content=body, headers=signed_headers(delivery, body)
            )
    except httpx.HTTPError as exc:
        return f"Could not reach the endpoint: {exc.__class__.__name__}: {exc}"
    delivery.response_status = response.status_code
    delivery.response_body = response.text[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"The endpoint answered HTTP {response.status_code}."


def requeue_lost_deliveries() -> int:
    """Queue again pending deliveries whose try was due a while ago: a first try or a retry
    whose message was lost (a worker restart, a Redis flush)."""
    from . import tasks

    return queueing.requeue_stale(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING),
        task=tasks.deliver_webhook,
        after=LOST_AFTER,
        field="next_attempt_at",
    )


def redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a failed delivery again, from the delivery log."""
    from . import tasks

    WebhookDelivery.objects.filter(id=delivery.id).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), error=""
    )
    queueing.enqueue(tasks.deliver_webhook, str(delivery.id))
    delivery.refresh_from_db()
    return delivery


# --- Payloads ------------------------------------------------------------------------------
def training_payload(job) -> dict:
    lora = getattr(job, "lora", None) if job.status == "succeeded" else None
    return {
        "training_job": {
            "id": job.id,
            "status": job.status,
            "provider": job.provider,
            "error": job.error,
            "cost": str(job.actual_cost if job.actual_cost is not None else job.estimated_cost),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
        "character": {"slug": job.character.slug, "trigger_word": job.character.trigger_word},
        "export_id": str(job.export_id),
        "lora": {"id": lora.id, "version": lora.version} if lora else None,
    }


def pin_payload(pin) -> dict:
    return {
        "character": {"slug": pin.character.slug, "trigger_word": pin.character.trigger_word},
        "pin": {
            "version": pin.version,
            "created_at": pin.created_at.isoformat(),
            "lora": {"id": pin.lora_id, "version": pin.lora.version} if pin.lora else None,
            "lora_scale": str(pin.lora_scale),
        },
        "pin_url": f"{settings.PUBLIC_BASE_URL}/api/characters/{pin.character.slug}/pin",
    }
