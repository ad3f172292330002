"""A real Celery worker process is killed mid-call: nothing is submitted twice, nothing lost.

The worker runs as a separate process on the test database, with its own Redis queue, and
talks to the fake fal server through the real SDK. SIGKILL gives it no chance to clean up.
"""

import pytest

from characters.models import Image
from characters.services import create_character
from generation import calls, runs
from generation.models import ProviderCall

from .conftest import drained, unacked, wait_for

ULTRA = "fal-ai/flux-pro/v1.1-ultra"
Status = ProviderCall.Status
pytestmark = pytest.mark.django_db(transaction=True)


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
    fal, worker, one_call_run, queue
):
    start, kill = worker
    fal.answer_accepted_submits_after = 10  # fal has the job; its answer is still on the way
    first = start()
    run = one_call_run()
    call = run.calls.get()
    wait_for(lambda: len(fal.jobs) == 1, what="fal to accept the submit")  # answer still pending
    assert fal.requests.submits.total() == 0  # the moment: accepted, not yet answered
    assert unacked(queue) == 1  # the submit task, taken but never acknowledged
    kill(first)
    fal.answer_accepted_submits_after = 0

    start()  # the broker hands the unacknowledged submit to the new worker, which sees it
    wait_for(lambda: drained(queue), timeout=40, what="the redelivered submit task to run")
    assert len(fal.arrivals.of("submit")) == 1 and len(fal.jobs) == 1  # it sent nothing
    wait_for(  # was on the wire, so it is not sent again; the lease runs out: unknown
        lambda: (
            (calls.sweep() or True)
            and ProviderCall.objects.get(id=call.id).status == Status.UNKNOWN
        ),
        what="the lost submit to be marked unknown",
    )

    call.refresh_from_db()
    assert call.status == Status.UNKNOWN, call.error
    assert "worker stopped while this request was being submitted" in call.error
    assert len(fal.jobs) == 1  # fal made (and bills) one job: nothing was sent again
    run.refresh_from_db()
    assert "unknown outcome" in run.error


def test_a_worker_killed_while_downloading_results_loses_nothing_and_pays_once(
    fal, worker, one_call_run, queue
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
    wait_for(  # the worker polls it, finds it done and starts downloading
        lambda: len(fal.arrivals.of("file")) == 1, timeout=30, what="a download to arrive at fal"
    )
    assert fal.requests.files.total() == 0  # the moment: the download is in flight
    assert ProviderCall.objects.get(id=call.id).status == Status.SUCCEEDED
    kill(first)

    start()  # no periodic pass runs here: only the redelivered download task can finish it
    wait_for(
        lambda: ProviderCall.objects.get(id=call.id).status == Status.DONE,
        timeout=40,
        what="the redelivered download to finish",
    )
    assert len(fal.arrivals.of("file")) >= 2  # downloaded again by the redelivered task
    assert Image.objects.filter(call_id=call.id).count() == 2
    assert fal.requests.submits[ULTRA] == 1
    # Acknowledged once the task returns, a moment after its commit (and the likeness tasks
    # its commit queues) made the call `done`.
    wait_for(lambda: unacked(queue) == 0, timeout=10, what="the redelivered task's ack")
