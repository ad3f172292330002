"""Separate Celery queues: provider calls, ingest and exports, webhooks; a worker per group
(Procfile, compose), so a full queue of uploads never holds up provider calls."""

import re
import shlex
from pathlib import Path
from uuid import uuid4

import pytest
import redis
import yaml
from django.conf import settings

from lorastudio.celery import app
from tests.lorastudio.test_celery_worker import TEST_REDIS, _forget_connections

ROOT = Path(__file__).resolve().parents[2]
CALLS, MEDIA, WEBHOOKS, LIKENESS = (
    settings.CELERY_QUEUES[k] for k in ("calls", "media", "webhooks", "likeness")
)
DEFAULT = settings.CELERY_TASK_DEFAULT_QUEUE


# Every app's tasks, as a worker loads them at start (a test process may not have imported
# them yet when this file runs first).
app.loader.import_default_modules()


def queue_of(task: str) -> str:
    return app.amqp.router.route({}, task)["queue"].name


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("generation.tasks.tick", CALLS),
        ("generation.tasks.submit_call", CALLS),
        ("generation.tasks.poll_call", CALLS),
        ("generation.tasks.download_call", CALLS),
        ("training.tasks.sync_training_jobs", CALLS),
        ("datasets.tasks.ingest_upload", MEDIA),
        ("datasets.tasks.build_export", MEDIA),
        ("training.tasks.deliver_webhook", WEBHOOKS),
        ("training.tasks.build_pin_pack", MEDIA),
        ("characters.tasks.measure_image", LIKENESS),
        ("lorastudio.tasks.beat_heartbeat", DEFAULT),
    ],
)
def test_each_kind_of_work_has_its_own_queue(task, queue):
    assert task in app.tasks
    assert queue_of(task) == queue


def _procfile_queues() -> dict[str, list[str]]:
    queues = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command)
        if "worker" in words:
            expanded = re.sub(r"\$\{CELERY_QUEUE:-(\w+)\}", r"\1", words[words.index("-Q") + 1])
            queues[name] = expanded.split(",")
    return queues


def test_the_procfile_starts_a_worker_per_queue_group_and_every_queue_is_consumed():
    queues = _procfile_queues()
    assert queues["worker"] == [DEFAULT, CALLS]
    assert queues["media"] == [MEDIA, LIKENESS] and queues["webhooks"] == [WEBHOOKS]
    consumed = {q for group in queues.values() for q in group}
    assert consumed == {q.name for q in app.conf.task_queues}


def test_compose_runs_the_three_worker_groups_and_the_entrypoint_knows_them():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = {name: service.get("command") for name, service in compose["services"].items()}
    workers = sorted(c[1] for c in commands.values() if c and c[0] == "worker")
    assert workers == ["calls", "media", "webhooks"]
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    assert 'calls) queues="$q,$q.calls"' in entrypoint
    assert 'media) queues="$q.media,$q.likeness"' in entrypoint
    assert 'webhooks) queues="$q.webhooks"' in entrypoint


@pytest.fixture
def private_queues():
    """The project app on Redis db 14 with queue names of its own; restored after."""
    prefix = f"test-{uuid4().hex}"
    names = {"default": prefix, "calls": f"{prefix}.calls", "media": f"{prefix}.media"}
    from kombu import Queue

    overrides = {
        "broker_url": TEST_REDIS,
        "result_backend": TEST_REDIS,
        "task_default_queue": names["default"],
        "task_queues": [Queue(n, routing_key=n) for n in names.values()],
        "task_routes": {
            "generation.tasks.*": {"queue": names["calls"]},
            "datasets.tasks.*": {"queue": names["media"]},
        },
        "worker_hijack_root_logger": False,
    }
    saved = {key: app.conf[key] for key in overrides}
    app.conf.update(overrides)
    _forget_connections()
    client = redis.Redis.from_url(TEST_REDIS)
    try:
        yield names, client
    finally:
        app.conf.update(saved)
        _forget_connections()
        for name in names.values():
            client.delete(name, f"_kombu.binding.{name}")
        client.close()


@pytest.mark.django_db(transaction=True)
def test_a_full_media_queue_does_not_hold_up_provider_calls(private_queues, worker_in_a_thread):
    from datasets.tasks import build_export
    from generation.tasks import tick

    names, broker = private_queues
    for _ in range(50):  # 50 exports waiting, as behind a burst of uploads
        build_export.delay(str(uuid4()))
    assert broker.llen(names["media"]) == 50

    # The calls worker, as the Procfile starts it: the default and the calls queue.
    with worker_in_a_thread(queues=[names["default"], names["calls"]]):
        result = tick.apply_async(ignore_result=False)  # keep its answer to read here
        assert isinstance(result.get(timeout=30), dict)

    assert broker.llen(names["media"]) == 50  # untouched: the calls worker never took one
    result.forget()
