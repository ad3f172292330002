"""Health of what the app depends on: the database, Redis, and the Celery worker and beat."""

import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

HEARTBEAT_KEY = "heartbeat:celery"
HEARTBEAT_STALE_AFTER = 120


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return "ok"


def record_heartbeat() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=HEARTBEAT_STALE_AFTER * 10)


def _heartbeat_age() -> float | None:
    try:
        seen = cache.get(HEARTBEAT_KEY)
    except Exception:  # Redis down: already reported by the redis check.
        return None
    return None if seen is None else round(time.time() - seen, 1)


WORKER_MISSING_AFTER = 30  # seconds: three heartbeats missed


def worker_last_seen() -> float | None:
    """Seconds since beat and a worker were last seen together (None: never, or no Redis)."""
    return _heartbeat_age()


def check_health() -> dict:
    """DB and Redis must answer for ok; the Celery heartbeat age is reported, not required."""
    checks = {}
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            checks[name] = check()
        except Exception as exc:
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"
    return {
        "ok": all(value == "ok" for value in checks.values()),
        **checks,
        # Beat schedules the heartbeat and a worker runs it: a fresh age proves both.
        "celery_seen_seconds_ago": _heartbeat_age(),
    }
