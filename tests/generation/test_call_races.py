"""Calls of one run that move at the same moment, in threads of their own (as in a worker pool).

Each thread has its own database connection and transaction, as worker processes would.
"""

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from characters.models import Image
from generation import calls
from generation.models import GenerationRun, ProviderCall
from tests.factories import GenerationRunFactory, ProviderCallFactory, queued_candidate_call

Status = ProviderCall.Status
pytestmark = pytest.mark.django_db(transaction=True)
CALLS = 8
ROUNDS = 12


def _in_threads(function, ids):
    """Run function(id) for every id at once, each in a thread with its own connection."""
    barrier = threading.Barrier(len(ids))
    errors = []

    def work(call_id):
        try:
            barrier.wait(timeout=30)
            function(call_id)
        except Exception as exc:  # reported below, with the call it happened to
            errors.append((call_id, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def _run_with_succeeded_calls(character, settings):
    """A local run whose calls the simulator has finished: each only needs its download."""
    settings.LOCAL_PROVIDER_DELAY = 0
    run = GenerationRunFactory(character=character, status=GenerationRun.Status.RUNNING)
    pose = character.poses.first()
    for n in range(CALLS):
        ProviderCallFactory(
            run=run,
            status=Status.SUCCEEDED,
            external_id=f"sim-{uuid.uuid4().hex[:16]}-{int(time.time() * 1000) - 1000}",
            request={"prompt": f"front pose {n}", "num_images": 1, "seed": n + 1},
            context={
                "purpose": "images",
                "inputs": {"prompt": f"front pose {n}", "num_images": 1, "seed": n + 1},
                "image": {"character_id": character.id, "kind": "candidate", "pose_id": pose.id},
            },
            estimated_cost=Decimal("0"),
        )
    return run


def test_calls_of_one_run_finishing_together_always_leave_the_run_succeeded(character, settings):
    for _ in range(ROUNDS):
        run = _run_with_succeeded_calls(character, settings)
        _in_threads(calls.download, [str(i) for i in run.calls.values_list("id", flat=True)])

        run.refresh_from_db()
        assert run.calls.filter(status=Status.DONE).count() == CALLS
        assert run.status == GenerationRun.Status.SUCCEEDED
        assert run.finished_at is not None
        assert run.actual_cost == sum(c.actual_cost for c in run.calls.all())
        assert Image.objects.filter(call__run=run).count() == CALLS


def test_calls_of_one_run_failing_together_always_leave_the_run_failed(character):
    from generation.providers.base import Poll, State

    for _ in range(ROUNDS):
        run = GenerationRunFactory(character=character, status=GenerationRun.Status.RUNNING)
        ids = [
            str(
                ProviderCallFactory(run=run, status=Status.RUNNING, external_id=uuid.uuid4().hex).id
            )
            for _ in range(CALLS)
        ]
        _in_threads(lambda i: calls.apply_poll(i, Poll(State.FAILED, error="NSFW")), ids)

        run.refresh_from_db()
        assert run.status == GenerationRun.Status.FAILED
        assert run.finished_at is not None
        assert run.error.startswith(f"{CALLS} of {CALLS} calls failed")


def test_the_periodic_pass_finishes_a_run_whose_calls_are_all_settled(character):
    run = GenerationRunFactory(character=character, status=GenerationRun.Status.RUNNING)
    for _ in range(3):
        ProviderCallFactory(
            run=run, status=Status.DONE, external_id=uuid.uuid4().hex, actual_cost=Decimal("0.06")
        )

    report = calls.sweep()

    run.refresh_from_db()
    assert report["runs_reconciled"] == 1
    assert run.status == GenerationRun.Status.SUCCEEDED and run.finished_at
    assert run.actual_cost == Decimal("0.18")
    assert calls.sweep()["runs_reconciled"] == 0  # once put right, left alone


def test_a_run_canceled_while_its_calls_are_claimed_sends_none_of_them(character, monkeypatch):
    """The cancel lands between the claim's read of queued calls and its update of them."""
    from django.db.models import QuerySet

    from generation import runs
    from generation.providers.local import LocalProvider

    run = GenerationRunFactory(character=character, status=GenerationRun.Status.RUNNING)
    for n in range(4):
        queued_candidate_call(run, n)
    sent = []
    real_submit, real_update = LocalProvider.submit, QuerySet.update
    monkeypatch.setattr(
        LocalProvider, "submit", lambda self, *a, **k: sent.append(a) or real_submit(self, *a, **k)
    )
    canceling = []

    def update(queryset, **values):
        if values.get("status") == Status.SUBMITTING and not canceling:
            # The claim has read its calls: the user cancels the run now, from another
            # connection, and the claim goes on once that cancel is done or waits on it.
            canceler = threading.Thread(target=_cancel, args=(run,))
            canceling.append(canceler)
            canceler.start()
            canceler.join(timeout=2)
        return real_update(queryset, **values)

    def _cancel(run):
        try:
            runs.cancel_run(GenerationRun.objects.get(id=run.id))
        finally:
            connection.close()

    monkeypatch.setattr(QuerySet, "update", update)

    claimed = calls.dispatch("local")
    canceling[0].join(timeout=30)
    for call_id in claimed:  # as the worker does with each claim it is sent
        calls.submit(call_id)

    assert not canceling[0].is_alive()
    assert sent == []
    assert set(run.calls.values_list("status", flat=True)) == {Status.CANCELED}
    run.refresh_from_db()
    assert run.status == GenerationRun.Status.CANCELED
