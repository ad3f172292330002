from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from . import queueing
from .health import record_heartbeat
from .idempotency import prune_keys
from .models import ApiToken


@shared_task
def beat_heartbeat() -> None:
    """Scheduled by beat, run by a worker: a fresh heartbeat on /healthz proves both alive."""
    record_heartbeat()


@shared_task
def prune_expired_api_tokens() -> int:
    """Delete tokens that expired or were revoked more than 30 days ago."""
    cutoff = timezone.now() - timedelta(days=30)
    deleted, _ = ApiToken.objects.filter(
        Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    ).delete()
    return deleted


@shared_task
def prune_idempotency_keys() -> int:
    """Forget one-time tokens and Idempotency-Keys older than 30 days."""
    return prune_keys()


@shared_task(ignore_result=True)
def sweep_lost_work() -> dict:
    """The periodic pass over every kind of waiting work (uploads, exports, deliveries, packs,
    likeness): re-queue lost work."""
    return queueing.sweep_lost_work()
