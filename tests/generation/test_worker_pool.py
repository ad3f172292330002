"""Calls of one run through a real worker pool: submits in parallel, the cap, cancel mid-submit."""

import time

import pytest

from generation import calls, runs
from generation.models import GenerationRun, ProviderCall

from .conftest import wait_for

ULTRA = "fal-ai/flux-pro/v1.1-ultra"
Status = ProviderCall.Status
pytestmark = pytest.mark.django_db(transaction=True)


def _launch(character, user, *, poses, count=1):
    plan = runs.plan_run(
        character=character, kind="anchors", provider="fal", poses=list(poses), count=count
    )
    return runs.launch_run(plan=plan, character=character, created_by=user, params={})


def _sweep_until(condition, *, timeout=60.0, what):
    """The periodic pass, as beat would run it, until `condition` holds."""
    wait_for(lambda: (calls.sweep() or True) and condition(), timeout=timeout, what=what)


def test_parallel_submits_never_exceed_the_providers_cap_and_the_run_finishes(
    fal, worker, character, user, settings
):
    settings.PROVIDER_CONCURRENCY = {"fal": "3"}
    start, _ = worker
    # Nothing is killed here: a visibility timeout as long as production's, no redeliveries.
    start(concurrency=8, env={"PROVIDER_CONCURRENCY": "fal=3", "CELERY_VISIBILITY_TIMEOUT": "300"})
    fal.script(ULTRA, duration=0.6)
    run = _launch(character, user, poses=[p.key for p in character.poses.all()])  # 8 calls
    peak = 0

    def finished():
        nonlocal peak
        peak = max(peak, run.calls.filter(status__in=ProviderCall.AT_PROVIDER).count())
        run.refresh_from_db()
        return run.finished_at is not None

    _sweep_until(finished, what="the run to finish")
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert 1 < peak <= 3
    assert fal.requests.accepted[ULTRA] == 8  # each call submitted once
    assert max(fal.requests.results.values()) == 1


def test_canceling_a_run_while_a_submit_is_on_the_wire_cancels_it_at_fal(
    fal, worker, character, user
):
    start, _ = worker
    start(concurrency=4)
    fal.script(ULTRA, duration=30)
    fal.answer_accepted_submits_after = 1.5  # fal has the job; its answer is on the way
    run = _launch(character, user, poses=["front"])
    call = run.calls.get()
    wait_for(lambda: len(fal.arrivals.of("submit")) == 1, what="the submit to reach fal")

    runs.cancel_run(run)  # while the submit is on the wire

    wait_for(lambda: fal.requests.cancels.total() == 1, timeout=30, what="a cancel at fal")
    call.refresh_from_db()
    run.refresh_from_db()
    assert call.external_id == next(iter(fal.jobs))  # the id was kept, and used to cancel
    assert call.status == Status.CANCELED
    assert run.status == GenerationRun.Status.CANCELED
    assert fal.requests.accepted[ULTRA] == 1
    time.sleep(1)  # nothing sends it again afterwards
    calls.sweep()
    assert fal.requests.accepted[ULTRA] == 1
