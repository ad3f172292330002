"""A slot freed by a poll goes to the next queued call in the poll's own transaction; a first
poll is due when the call is expected done, counted from when the provider accepted it."""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from generation import calls, poll_timing
from generation.models import GenerationRun, ProviderCall
from generation.providers.base import Output, Poll, State
from lorastudio import queueing
from tests.factories import (
    GenerationRunFactory,
    ProviderCallFactory,
    png_bytes,
    queued_candidate_call,
)

Status = ProviderCall.Status
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    """The tasks sent through the broker, by name, with their countdowns."""
    tasks = []
    monkeypatch.setattr(
        queueing,
        "send",
        lambda task, *args, countdown=None: tasks.append((task.name, args, countdown)) or True,
    )
    return tasks


def _finished_at_the_provider(run):
    return ProviderCallFactory(
        run=run,
        status=Status.RUNNING,
        external_id=f"sim-{uuid.uuid4().hex[:16]}-{int(time.time() * 1000)}",
        submitted_at=timezone.now() - timedelta(seconds=5),
    )


def _done():
    return Poll(State.SUCCEEDED, outputs=[Output(kind="image", content=png_bytes())])


def test_a_poll_that_frees_a_slot_claims_the_next_queued_call_at_once(character, settings, sent):
    settings.PROVIDER_CONCURRENCY = {"local": 2}
    run = GenerationRunFactory(character=character, status=GenerationRun.Status.RUNNING)
    finished = _finished_at_the_provider(run)
    _finished_at_the_provider(run)  # still busy: one slot is freed, not two
    queued = [queued_candidate_call(run, n) for n in range(3)]

    calls.apply_poll(finished.id, _done())

    statuses = {c.id: c.status for c in ProviderCall.objects.filter(run=run)}
    assert statuses[queued[0].id] == Status.SUBMITTING  # claimed for the freed slot
    assert statuses[queued[1].id] == statuses[queued[2].id] == Status.CREATED
    assert [a for n, a, _ in sent if n == "generation.tasks.submit_call"] == [(str(queued[0].id),)]
    assert [a for n, a, _ in sent if n == "generation.tasks.download_call"] == [(str(finished.id),)]


def test_a_first_poll_is_due_when_the_call_is_expected_done_from_its_acceptance(
    character, settings, sent, clean_cache
):
    settings.LOCAL_PROVIDER_DELAY = 4.0
    run = GenerationRunFactory(character=character, status=GenerationRun.Status.RUNNING)
    call = queued_candidate_call(run, 1)
    calls.dispatch("local")
    sent.clear()

    calls.submit(call.id)

    (countdown,) = [c for name, _, c in sent if name == "generation.tasks.poll_call"]
    expected = poll_timing.first_poll_delay(call)  # 80 % of the simulator's 4 s, not learned yet
    assert expected == pytest.approx(3.2)
    # Sent after the submit's own transaction: the time that took is taken off, not added.
    assert expected - 1 < countdown < expected
