"""A 100-call fal run while the worker is SIGKILLed at random moments, again and again.

The worker (prefork, as deployed), beat and the fal fake are real processes and sockets; the
fake answers slowly enough that most kills land with requests on the wire. SIGKILL goes to the
worker's whole process group, as when a container is killed; a new worker starts after each.
Nothing may be submitted twice, no picture the fake made for a finished call may be missing or
doubled, every call whose provider id was lost is shown `unknown`, and only calls whose submit
a kill caught on the wire may be `unknown`. Kills are timed at random, aimed (a few seconds
at most) at a phase no kill has hit yet, and must have hit each: a submit on the wire, a call
being polled, a download. FAULTS_SEED=n replays the kill timings of a seed.
"""

import os
import random
import time

import httpx

from .conftest import launch
from .ledger import Ledger
from .services import wait_for

CALLS = 100
KILLS = 20
MAX_UP = 1.8  # seconds a worker runs before it is killed, at most
JOB_SECONDS = 6
# The kills must land in each phase of a call: its submit on the wire, its polls, its download.
PHASES = ("on_wire", "polling", "downloading")
AIM_SECONDS = 3.0
ULTRA = "fal-ai/flux-pro/v1.1-ultra"


def test_a_run_survives_twenty_worker_kills_without_double_submits_or_lost_images(
    app, fal_fake, capsys
):
    seed = int(os.environ.get("FAULTS_SEED") or random.randrange(1_000_000))
    chance = random.Random(seed)
    fal_fake.latency = 0.1  # every answer: requests are in flight most of the time
    fal_fake.answer_accepted_submits_after = 0.2  # fal has the job before the client hears
    # 100 jobs of JOB_SECONDS on 10 slots, and every kill throws away the polls in flight:
    # the run outlasts the kill phase, so every kill lands mid-run (asserted below).
    fal_fake.script(ULTRA, duration=JOB_SECONDS)
    started = time.monotonic()
    app.start_beat()
    worker = app.start_worker()
    launched = launch(app, calls=CALLS)
    ledger = Ledger(url=app.env["DATABASE_URL"], run_id=launched["run"], fake=fal_fake)

    kills, stranded = [], set()
    while len(kills) < KILLS:
        time.sleep(chance.uniform(0.2, MAX_UP))
        moment = ledger.in_flight()
        # Aim: while a phase has not been hit yet, wait a little for a moment it is under way.
        aim_until = time.monotonic() + AIM_SECONDS
        while time.monotonic() < aim_until and not any(
            moment[phase] for phase in PHASES if not any(k[phase] for k in kills)
        ):
            time.sleep(0.05)
            moment = ledger.in_flight()
        app.kill(worker)
        caught = ledger.on_the_wire()  # the dead worker's submits: their answers are lost
        kills.append({**moment, "on_wire": len(caught - stranded)})
        stranded |= caught
        last = len(kills) == KILLS
        # The last worker may send the rest at once: the cap is configuration, not the test.
        worker = (
            app.start_worker(concurrency=8, env={"PROVIDER_CONCURRENCY": f"fal={CALLS}"})
            if last
            else app.start_worker()
        )
    killing = time.monotonic() - started
    open_at_kill = sum(1 for moment in kills if moment["open"])
    covered = {phase: sum(1 for moment in kills if moment[phase]) for phase in PHASES}
    wait_for(
        ledger.calls_settled,
        timeout=150,
        every=0.5,
        explain=ledger.describe,
        what="every call to settle after the kills",
    )
    tally = ledger.tally(stranded=stranded)

    app.start_web()
    shown_url = f"http://127.0.0.1:{app.web_port}/api/runs/{launched['run']}"
    bearer = {"Authorization": f"Bearer {launched['token']}"}
    shown = httpx.get(shown_url, headers=bearer, timeout=30, trust_env=False).json()
    with capsys.disabled():
        print(
            f"\n[faults] worker kills (seed {seed}): kills={len(kills)} "
            f"while_calls_open={open_at_kill} "
            f"with_submit_on_wire={covered['on_wire']} while_polling={covered['polling']} "
            f"submits_caught_on_wire={len(stranded)} while_downloading={covered['downloading']} "
            f"{tally.figures()} killing={killing:.0f}s total={time.monotonic() - started:.0f}s"
        )

    assert open_at_kill == KILLS, "every kill must land while the run still has work"
    assert all(covered.values()), f"the kills must cover submit, poll and download: {covered}"
    assert tally.calls == CALLS
    assert set(tally.statuses) <= {"done", "unknown"}, tally.figures()
    assert tally.double_submits == 0, tally.figures()
    assert tally.lost_images == 0, tally.figures()
    assert tally.images_saved == 2 * tally.statuses["done"], tally.figures()
    assert tally.unknown_not_shown == 0, tally.figures()
    assert tally.unknown_not_stranded == 0, tally.figures()
    # What the user sees says the same: each unknown call, and the run asks for a decision.
    assert shown["calls_by_status"].get("unknown", 0) == tally.statuses["unknown"]
    assert shown["images"] == tally.images_saved
    if tally.statuses["unknown"]:
        assert f"{tally.statuses['unknown']} call(s) have an unknown outcome" in shown["error"]
    ledger.finished()
    shown = httpx.get(shown_url, headers=bearer, timeout=30, trust_env=False).json()
    expected_run = "partial" if tally.statuses["unknown"] else "succeeded"
    assert shown["status"] == expected_run, shown["error"]
