"""Outgoing webhooks: tell this installation's downstream tools when a pin changes or a
training ends, signed the Standard Webhooks way, retried with backoff, every try logged.

Signature: headers `webhook-id`, `webhook-timestamp` and `webhook-signature` =
`v1,` + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")), made by the project's one
signer (lorastudio.standard_webhooks, over the `standardwebhooks` library), so any Standard
Webhooks verifier accepts it.

Targets are only http(s) URLs on the public internet, looked up once and connected to at the
address that was checked (`webhook_targets`); WEBHOOKS_ALLOW_PRIVATE_TARGETS=true allows
private ones (local use, tests). The check runs at registration and again before every
delivery (DNS may have changed), and redirects are not followed.

A delivery holds nothing while it waits on the network: it is claimed by one conditional
update (which also sets when a lost claim may be taken again), sent with no transaction open,
within a total deadline, reading at most a few KB of the answer, and its outcome is saved by
a second update. Deliveries have their own Celery queue, so a slow endpoint never delays
provider calls.
"""

import json
import logging
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, Q
from django.utils import timezone

from lorastudio import queueing, standard_webhooks
from lorastudio.errors import Conflict

from .models import WebhookDelivery, WebhookEndpoint
from .webhook_targets import PinnedTransport, WebhookRefused, resolve

log = logging.getLogger(__name__)
PIN_CHANGED = WebhookEndpoint.Event.PIN_CHANGED
TRAINING_ENDED = WebhookEndpoint.Event.TRAINING_ENDED
MAX_ATTEMPTS = 6
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ANSWER_READ_BYTES = 4096  # enough for an error message; the rest of an answer is never read
DESCRIPTION_MAX_LENGTH = 200
# A pending delivery whose try was due this long ago lost its message: it is queued again.
LOST_AFTER = timedelta(minutes=1)


class TooManyEndpoints(Conflict):
    """A user already has as many webhook endpoints as one user may."""


# --- Where we may send ---------------------------------------------------------------------
def check_target(url: str) -> None:
    """Refuse URLs that are not http(s) or that lead into a private network."""
    resolve(url)


# --- Endpoints -----------------------------------------------------------------------------
def create_endpoint(
    *, url: str, events: list[str] | None = None, description: str = "", created_by=None
) -> WebhookEndpoint:
    """Register a URL for this installation's events; its secret is made here."""
    url = url.strip()
    check_target(url)
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise WebhookRefused(
            f"A webhook description has at most {DESCRIPTION_MAX_LENGTH} characters."
        )
    user = created_by if isinstance(created_by, AbstractBaseUser) else None
    limit = settings.WEBHOOK_ENDPOINTS_PER_USER
    if user is not None and WebhookEndpoint.objects.filter(created_by=user).count() >= limit:
        raise TooManyEndpoints(
            f"You have {limit} webhook endpoints, as many as one user may: delete one first."
        )
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
        created_by=user,
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


def _headers(delivery: WebhookDelivery, body: str) -> dict:
    signed = standard_webhooks.sign(
        secret=delivery.endpoint.secret, webhook_id=delivery.message_id, body=body.encode()
    )
    return {"content-type": "application/json", "user-agent": "LoRA-Studio-Webhooks/1", **signed}


def _backoff(attempts: int) -> int:
    """30 s, 2 min, 8 min, 32 min, ~2 h between tries."""
    return 30 * 4 ** (attempts - 1)


def deliver(delivery_id) -> int | None:
    """Send one delivery once. Returns seconds until the next try, or None when it is over."""
    now = timezone.now()
    # The claim: one worker wins; if it dies while sending, the sweep takes the delivery up
    # again once the lease is over (the deadline and then some).
    lease = timedelta(seconds=settings.WEBHOOK_DEADLINE_SECONDS + 60)
    claimed = (
        WebhookDelivery.objects.filter(id=delivery_id, status=WebhookDelivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempts=F("attempts") + 1, next_attempt_at=now + lease, updated_at=now)
    )
    if claimed != 1:
        return None  # delivered, given up, not due yet, or being sent by another worker
    delivery = WebhookDelivery.objects.select_related("endpoint").get(id=delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":"))
    outcome = _send(delivery, body)  # no transaction and no lock while we wait
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
    saved = WebhookDelivery.objects.filter(id=delivery.id, attempts=delivery.attempts).update(
        status=delivery.status,
        delivered_at=delivery.delivered_at,
        error=delivery.error,
        next_attempt_at=delivery.next_attempt_at,
        response_status=delivery.response_status,
        response_body=delivery.response_body,
        updated_at=timezone.now(),
    )
    if saved != 1:
        # Deleted with its endpoint, or sent again by hand meanwhile: that try's outcome wins.
        log.info("Webhook delivery %s changed while it was being sent", delivery.id)
        return None
    if delivery.status == WebhookDelivery.Status.PENDING:
        return _backoff(delivery.attempts)
    return None


def _send(delivery: WebhookDelivery, body: str) -> str | None:
    """POST the body to the checked address; None on a 2xx answer, otherwise what went wrong."""
    try:
        target = resolve(delivery.endpoint.url)
    except WebhookRefused as exc:
        return exc.message
    deadline = settings.WEBHOOK_DEADLINE_SECONDS
    started = time.monotonic()
    transport = PinnedTransport(target, deadline=deadline)
    try:
        with (
            httpx.Client(
                transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False
            ) as client,
            client.stream(
                "POST", target.url, content=body, headers=_headers(delivery, body)
            ) as response,
        ):
            head = b""
            # Raw bytes: a compressed answer is never inflated; closing drops the rest.
            for chunk in response.iter_raw():
                head += chunk
                if len(head) >= ANSWER_READ_BYTES:
                    break
    except httpx.TimeoutException as exc:
        if time.monotonic() - started >= deadline:
            return f"The endpoint did not answer within {deadline:g} s."
        return f"Could not reach the endpoint: {exc.__class__.__name__}: {exc}"
    except httpx.HTTPError as exc:
        return f"Could not reach the endpoint: {exc.__class__.__name__}: {exc}"
    delivery.response_status = response.status_code
    delivery.response_body = head[:500].decode("utf-8", "replace")[:500]
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
