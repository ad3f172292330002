"""Redis, then Postgres, stopped in the middle of a fal run and started again.

The app runs as it does in production (worker, beat and web processes); the outage starts
while a submit is on the wire. While a service is down /healthz (the real view, through the
web process) answers 503 and names it; once it is back, 200. The run must then finish with
nothing lost: no call submitted twice, every picture the fake made saved once, and every
provider id the fake handed out on the call it belongs to.

Redis runs without persistence, so its restart also empties the broker: every queued and
unacknowledged task is gone, and only the periodic pass (beat's `tick`) can find the work.
"""

import time

import httpx
import pytest

from .conftest import launch
from .failures import ProviderIdLost
from .ledger import Ledger
from .services import wait_for

CALLS = 20
OUTAGE_SECONDS = 3


class Health:
    def __init__(self, app) -> None:
        self.url = f"http://127.0.0.1:{app.web_port}/healthz"

    def __call__(self) -> tuple[int, dict]:
        response = httpx.get(self.url, timeout=30, trust_env=False)
        return response.status_code, response.json()


@pytest.fixture
def mid_run(app, fal_fake):
    """A run under way: some calls past fal, a submit on the wire (fal answers each a second
    late)."""
    fal_fake.latency = 0.05
    fal_fake.answer_accepted_submits_after = 1.0
    app.start_beat()
    app.start_worker()
    app.start_web()
    health = Health(app)
    assert health()[0] == 200
    launched = launch(app, calls=CALLS)
    ledger = Ledger(url=app.env["DATABASE_URL"], run_id=launched["run"], fake=fal_fake)
    wait_for(
        lambda: _past_the_provider(ledger) >= 2 and ledger.in_flight()["on_wire"],
        timeout=60,
        every=0.05,
        explain=ledger.describe,
        what="some calls past fal (done, or their results to download) and a submit on the wire",
    )
    return ledger, health


def _past_the_provider(ledger) -> int:
    """Calls fal has finished: done, or with their results still to download. (A poll that
    frees a slot sends the next call itself before the downloads behind it run: waiting for
    two calls *done* could find every submit already answered.)"""
    statuses = ledger.statuses()
    return statuses.get("done", 0) + statuses.get("succeeded", 0)


def _settles_with_nothing_lost(ledger, *, what: str, capsys, started: float) -> None:
    wait_for(
        ledger.calls_settled,
        timeout=120,
        every=0.5,
        explain=ledger.describe,
        what=f"every call to settle after {what}",
    )
    tally = ledger.tally()
    with capsys.disabled():
        print(f"\n[faults] {what}: {tally.figures()} total={time.monotonic() - started:.0f}s")
    assert tally.calls == CALLS
    assert tally.double_submits == 0, tally.figures()
    assert tally.lost_images == 0, tally.figures()
    assert tally.unknown_not_shown == 0, tally.figures()
    if tally.lost_on_the_wire:
        raise ProviderIdLost(tally.figures())
    assert tally.statuses == {"done": CALLS}, tally.figures()
    assert tally.images_saved == 2 * CALLS
    ledger.finished()
    assert ledger.run()[0] == "succeeded"


def test_a_run_finishes_with_nothing_lost_after_redis_is_stopped_and_started_again(
    mid_run, redis_server, capsys
):
    ledger, health = mid_run
    started = time.monotonic()
    redis_server.stop()
    status, report = health()
    assert status == 503
    assert report["redis"].startswith("error:") and report["database"] == "ok"
    time.sleep(OUTAGE_SECONDS)  # the worker and beat keep running without their broker
    redis_server.start()  # same port, empty
    wait_for(lambda: health()[0] == 200, timeout=30, what="/healthz to answer 200 again")

    _settles_with_nothing_lost(ledger, what="a Redis restart", capsys=capsys, started=started)


def test_a_run_finishes_with_nothing_lost_after_postgres_is_stopped_and_started_again(
    mid_run, postgres, capsys
):
    ledger, health = mid_run
    started = time.monotonic()
    postgres.stop("fast")  # every connection is closed
    status, report = health()
    assert status == 503
    assert report["database"].startswith("error:") and report["redis"] == "ok"
    time.sleep(OUTAGE_SECONDS)
    postgres.start()
    wait_for(lambda: health()[0] == 200, timeout=30, what="/healthz to answer 200 again")

    _settles_with_nothing_lost(ledger, what="a Postgres restart", capsys=capsys, started=started)
