import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from django.db import connection

from lorastudio.celery import app
from lorastudio.queues import queue_names
from tests.settings import redis_db


@pytest.fixture
def drive():
    """Let time pass and run the periodic pass until `run` has finished; returns it fresh."""
    import time_machine
    from django.utils import timezone

    from generation import calls

    def run_until_finished(run, *, rounds=40, step=5):
        with time_machine.travel(timezone.now(), tick=True) as traveller:
            for _ in range(rounds):
                calls.sweep()
                run.refresh_from_db()
                if run.finished_at:
                    return run
                traveller.shift(step)
        raise AssertionError(f"run still {run.status} after {rounds} rounds")

    return run_until_finished


@pytest.fixture
def clean_cache():
    from django.core.cache import cache

    cache.clear()


@contextmanager
def _use_fake(monkeypatch, fake):
    """Point the SDKs at `fake`; provider adapters built before or during are forgotten."""
    from generation.providers import get_provider

    with fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        get_provider.cache_clear()
        yield fake
    get_provider.cache_clear()


@pytest.fixture
def fal(monkeypatch, settings, clean_cache):
    from tests.fakes.fal import FakeFal

    with _use_fake(monkeypatch, FakeFal()) as fake:
        settings.FAL_KEY = fake.key
        settings.FAL_JWKS_URL = fake.jwks_url
        yield fake


@pytest.fixture
def replicate_fake(monkeypatch, settings, clean_cache):
    from tests.fakes.replicate import FakeReplicate

    with _use_fake(monkeypatch, FakeReplicate()) as fake:
        settings.REPLICATE_API_TOKEN = fake.token
        settings.REPLICATE_WEBHOOK_SECRET = fake.webhook_secret
        settings.REPLICATE_DOWNLOAD_HOSTS = ["127.0.0.1"]
        yield fake


# --- A real worker process on a queue of its own ---------------------------------------
ROOT = Path(__file__).resolve().parents[2]
BROKER = redis_db(2)  # of this test process's own Redis (tests/settings.py)


def wait_for(condition, *, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def queue():
    """This process sends its tasks to a queue of its own on a Redis database of its own."""
    name = f"crash-{uuid4().hex}"
    overrides = {"broker_url": BROKER, "task_default_queue": name, "task_always_eager": False}
    saved = {key: app.conf[key] for key in overrides}
    app.conf.update(overrides)
    app._pool = None
    app.__dict__.pop("amqp", None)
    yield name
    app.conf.update(saved)
    app._pool = None
    app.__dict__.pop("amqp", None)
    client = redis.Redis.from_url(BROKER)
    names = [name, *queue_names(name).values()]
    client.delete("unacked", "unacked_index", *names, *(f"_kombu.binding.{n}" for n in names))
    client.close()


@pytest.fixture
def worker(queue, fal, settings):
    """Start (and restart) worker processes on the test database; all are killed at the end."""
    processes = []
    database = connection.settings_dict
    base_env = {
        **os.environ,
        **fal.env,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
        "CELERY_QUEUE": queue,
        "CELERY_VISIBILITY_TIMEOUT": "3",
        # Short leases, so the tests see a lost submit swept within seconds.
        "CALL_SUBMIT_LEASE_SECONDS": "2",
        "CALL_CLAIM_LEASE_SECONDS": "2",
        "FAL_KEY": fal.key,
    }

    def start(*, concurrency: int = 4, env: dict | None = None, groups=("calls",)):
        """A worker on the default queue and the queues of `groups` (lorastudio.queues): the
        Procfile's calls worker by default, every group for one worker that does all work."""
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lorastudio",
                "worker",
                "-P",
                "threads",
                "-c",
                str(concurrency),
                # This process's routes send each task to its group's queue.
                "-Q",
                ",".join([queue, *(queue_names(queue)[group] for group in groups)]),
                "--without-mingle",
                "--without-gossip",
                "-l",
                "warning",
            ],
            cwd=ROOT,
            env={**base_env, **(env or {})},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        return process

    def kill(process):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    yield start, kill
    for process in processes:
        if process.poll() is None:
            kill(process)


def drained(queue: str) -> bool:
    """Every message of `queue` was taken by a worker and acknowledged: with acks_late, the
    task ran to its end. (No unacked message alone is not enough: a dead worker's message
    goes back to the queue before a new worker takes it.)"""
    names = {queue, *queue_names(queue).values()}
    client = redis.Redis.from_url(BROKER)
    try:
        return all(client.llen(name) == 0 for name in names) and unacked(queue) == 0
    finally:
        client.close()


def unacked(queue: str) -> int:
    """Messages of `queue` (and its .calls, .media, .webhooks) a worker has taken and not
    acknowledged (Redis transport)."""
    names = {queue, *queue_names(queue).values()}
    client = redis.Redis.from_url(BROKER)
    try:
        return sum(
            1
            for value in client.hvals("unacked")
            if json.loads(value)[-1] in names  # [message, exchange, routing key]
        )
    finally:
        client.close()
