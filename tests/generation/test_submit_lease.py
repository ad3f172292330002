"""A slow submit: the lease counts from the moment it is sent, and a provider id is never lost."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from generation import calls, runs
from generation.models import ProviderCall

ULTRA = "fal-ai/flux-pro/v1.1-ultra"
Status = ProviderCall.Status
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]


def wait_for(condition, *, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def claimed_call(fal, character, user, settings):
    """One fal call, claimed for submitting (as dispatch leaves it), not yet sent."""
    settings.PROVIDER_CONCURRENCY = {"fal": "0"}  # launched, but not dispatched
    plan = runs.plan_run(
        character=character, kind="anchors", provider="fal", poses=["front"], count=1
    )
    run = runs.launch_run(plan=plan, character=character, created_by=user, params={})
    call = run.calls.get()
    # Claimed by dispatch a while ago: little of its claim's lease is left when it is sent.
    ProviderCall.objects.filter(id=call.id).update(
        status=Status.SUBMITTING, next_check_at=timezone.now() + timedelta(seconds=0.2)
    )
    call.refresh_from_db()
    return call


def _submit_in_a_thread(call):
    def send():
        try:
            calls.submit(call.id)
        finally:
            connection.close()

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_a_submit_slower_than_the_claim_lease_is_not_taken_for_lost(claimed_call, fal, settings):
    settings.CALL_SUBMIT_LEASE_SECONDS = 60
    fal.answer_accepted_submits_after = 1.5
    thread = _submit_in_a_thread(claimed_call)
    wait_for(lambda: len(fal.jobs) == 1, what="fal to accept the job")
    time.sleep(0.5)  # well past the claim lease, while fal's answer is still on the way
    calls.sweep()
    claimed_call.refresh_from_db()
    assert claimed_call.status == Status.SUBMITTING  # not unknown: the answer is on its way
    thread.join(timeout=20)

    claimed_call.refresh_from_db()
    assert claimed_call.status == Status.SUBMITTED
    assert claimed_call.external_id == next(iter(fal.jobs))


def test_a_provider_id_arriving_after_the_call_was_marked_unknown_lands_on_it(
    claimed_call, fal, settings, caplog
):
    settings.CALL_SUBMIT_LEASE_SECONDS = 0.3  # shorter than fal's answer: swept to unknown
    fal.answer_accepted_submits_after = 1.5
    thread = _submit_in_a_thread(claimed_call)
    wait_for(lambda: len(fal.jobs) == 1, what="fal to accept the job")
    wait_for(
        lambda: (
            calls.sweep()["unknown"]
            or ProviderCall.objects.get(id=claimed_call.id).status == Status.UNKNOWN
        ),
        what="the sweep to mark the call unknown",
    )
    thread.join(timeout=20)

    claimed_call.refresh_from_db()
    assert claimed_call.external_id == next(iter(fal.jobs))  # fal bills it: we know which job
    assert claimed_call.status == Status.SUBMITTED  # and it is polled like any other
    assert claimed_call.error == ""
    assert "arrived after all" in caplog.text
    assert fal.requests.accepted[ULTRA] == 1
