"""A task really travels through Redis to a Celery worker (embedded, in a thread)."""

import logging
import threading
from uuid import uuid4

import pytest
import redis
from django.core.cache import cache

from lorastudio.celery import app
from lorastudio.health import HEARTBEAT_KEY, check_health
from lorastudio.tasks import beat_heartbeat
from tests.settings import redis_db

# A database and a queue of our own on this test process's Redis (tests/settings.py).
TEST_REDIS = redis_db(3)


def _forget_connections() -> None:
    # Celery caches the broker pool, its queue table (with the worker's queue selection)
    # and this thread's result backend on first use; drop them so they follow the conf.
    app._pool = None
    app.__dict__.pop("amqp", None)
    app._backend_cache = None
    vars(app._local).pop("backend", None)


@pytest.fixture
def queue(settings):
    """Point the project app (and the cache) at a Redis db and a unique queue; restore after."""
    name = f"test-{uuid4().hex}"
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": TEST_REDIS, "KEY_PREFIX": name}
    }
    overrides = {
        "broker_url": TEST_REDIS,
        "result_backend": TEST_REDIS,
        "task_default_queue": name,
        "worker_hijack_root_logger": False,
    }
    saved = {key: app.conf[key] for key in overrides}
    app.conf.update(overrides)
    _forget_connections()
    client = redis.Redis.from_url(TEST_REDIS)
    try:
        yield name
    finally:
        app.conf.update(saved)
        _forget_connections()
        cache.delete(HEARTBEAT_KEY)  # still the test cache: settings are restored after us
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        client.close()


@pytest.mark.django_db(transaction=True)
def test_heartbeat_task_runs_in_a_worker_and_shows_on_health(queue, worker_in_a_thread):
    """beat_heartbeat sent with delay() is run by the worker and /healthz sees it as fresh."""
    assert check_health()["celery_seen_seconds_ago"] is None

    with worker_in_a_thread(queues=[queue]):
        result = beat_heartbeat.delay()
        assert result.get(timeout=20) is None

    assert result.successful()
    age = check_health()["celery_seen_seconds_ago"]
    assert age is not None and 0 <= age < 20
    result.forget()


@pytest.mark.django_db(transaction=True)
def test_a_task_waits_in_the_redis_queue_until_a_worker_takes_it(queue, worker_in_a_thread):
    """With no worker the message sits in the Redis list; a started worker drains it."""
    broker = redis.Redis.from_url(TEST_REDIS)
    result = beat_heartbeat.delay()
    assert broker.llen(queue) == 1
    assert result.state == "PENDING"

    with worker_in_a_thread(queues=[queue]):
        assert result.get(timeout=20) is None
        assert broker.llen(queue) == 0

    assert result.successful()
    result.forget()
    broker.close()


def test_a_worker_in_a_thread_leaves_the_logging_of_this_process_as_it_found_it(
    queue, worker_in_a_thread, caplog
):
    """Celery sets up logging for a worker process; later tests here must still see warnings."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers), logging.getLogger("celery.task").propagate)

    for _ in range(2):  # the first start's Django setup puts LOGGING back; the second does not
        with worker_in_a_thread(queues=[queue]):
            pass

    assert (root.level, root.handlers, logging.getLogger("celery.task").propagate) == before
    # As generation.calls warns from a submitting thread, and a test reads it with caplog.
    thread = threading.Thread(target=logging.getLogger("generation.calls").warning, args=["late"])
    thread.start()
    thread.join()
    assert "late" in caplog.text


def test_tasks_are_acked_late_and_the_heartbeat_is_scheduled_by_beat():
    """A worker that dies mid-task leaves it queued, and beat schedules a registered heartbeat."""
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1

    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "lorastudio.tasks.beat_heartbeat" in scheduled
    assert "lorastudio.tasks.beat_heartbeat" in app.tasks
    assert "lorastudio.tasks.prune_expired_api_tokens" in app.tasks


@app.task(name="tests.database_backend")
def database_backend() -> int:
    """The Postgres backend that serves this task's database connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next(
    queue, worker_in_a_thread
):
    """As a web process between requests (CONN_MAX_AGE): a fresh connection per task cost each
    submit, poll and download its own connection setup."""
    with worker_in_a_thread(queues=[queue]):
        backends = [database_backend.delay().get(timeout=20) for _ in range(3)]

    assert len(set(backends)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_database_connection_broke_between_tasks_opens_a_new_one(
    queue, worker_in_a_thread
):
    from django.db import connection

    with worker_in_a_thread(queues=[queue]):
        first = database_backend.delay().get(timeout=20)
        with connection.cursor() as cursor:  # as a Postgres restart or an idle timeout would
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        second = database_backend.delay().get(timeout=20)

    assert second != first
