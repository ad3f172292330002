"""A real Celery worker process is killed mid-call: nothing is submitted twice, nothing lost.

The worker runs as a separate process on the test database, with its own Redis queue, and
talks to the fake fal server through the real SDK. SIGKILL gives it no chance to clean up.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from django.db import connection

from characters.models import Image
from characters.services import create_character
from generation import calls, runs
from generation.models import ProviderCall
from lorastudio.celery import app

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://127.0.0.1:6379/12"
ULTRA = "fal-ai/flux-pro/v1.1-ultra"
Status = ProviderCall.Status
pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, *, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def queue():
    """This process sends its tasks to a queue of its own on Redis db 12."""
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
    client.delete(name, "unacked", "unacked_index", f"_kombu.binding.{name}")
    client.close()


@pytest.fixture
def worker(queue, fal, settings):
    """Start (and restart) worker processes on the test database; all are killed at the end."""
    processes = []
    database = connection.settings_dict
    env = {
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

    def start():
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
                "4",
                "-Q",
                queue,
                "--without-mingle",
                "--without-gossip",
                "-l",
                "warning",
            ],
            cwd=ROOT,
            env=env,
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


@pytest.fixture
def one_call_run(loaded_presets, user, settings):
    settings.CALL_SUBMIT_LEASE_SECONDS = 2
    settings.CALL_CLAIM_LEASE_SECONDS = 2

    def launch():
        character = create_character(
            name="Fit",
            trigger_word="fitmannequin",
            base_prompt="orange mannequin",
            preset="fitness",
        )
        plan = runs.plan_run(
            character=character, kind="anchors", provider="fal", poses=["front"], count=2
        )
        return runs.launch_run(plan=plan, character=character, created_by=user, params={})

    return launch


def test_a_worker_killed_after_fal_accepted_the_submit_never_submits_it_again(
    fal, worker, one_call_run
):
    start, kill = worker
    fal.answer_accepted_submits_after = 10  # fal has the job; its answer is still on the way
    first = start()
    run = one_call_run()
    call = run.calls.get()
    wait_for(lambda: len(fal.jobs) == 1, what="fal to accept the submit")  # answer still pending
    kill(first)
    fal.answer_accepted_submits_after = 0

    start()
    time.sleep(4)  # past the submit lease and the broker's visibility timeout: redelivery
    calls.sweep()
    time.sleep(2)
    calls.sweep()

    call.refresh_from_db()
    assert call.status == Status.UNKNOWN, call.error
    assert "worker stopped while this request was being submitted" in call.error
    assert len(fal.jobs) == 1  # fal made (and bills) one job: nothing was sent again
    run.refresh_from_db()
    assert "unknown outcome" in run.error


def test_a_worker_killed_while_downloading_results_loses_nothing_and_pays_once(
    fal, worker, one_call_run, settings
):
    start, kill = worker
    fal.script(ULTRA, queue_polls=0, run_polls=0)
    fal.delay_next("file", 8, times=1)  # the first result download hangs
    first = start()
    run = one_call_run()
    call = run.calls.get()
    wait_for(
        lambda: ProviderCall.objects.get(id=call.id).status == Status.SUBMITTED, what="the submit"
    )
    calls.sweep()  # schedules polls; the poll finds the job done and starts the download
    deadline = time.monotonic() + 20
    while fal.requests.files.total() == 0 and time.monotonic() < deadline:
        calls.sweep()
        time.sleep(0.3)
    assert ProviderCall.objects.get(id=call.id).status == Status.SUCCEEDED
    kill(first)

    start()
    wait_for(
        lambda: (
            (calls.sweep() or True) and ProviderCall.objects.get(id=call.id).status == Status.DONE
        ),
        timeout=40,
        what="the download to finish after the restart",
    )
    assert Image.objects.filter(call_id=call.id).count() == 2
    assert fal.requests.submits[ULTRA] == 1
    time.sleep(4)  # a redelivered download task must not add images either
    assert Image.objects.filter(call_id=call.id).count() == 2
