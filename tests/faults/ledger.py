"""What happened to a run, read from both sides: the app's database and the fal fake's jobs.

The app's tables are read with plain SQL on the private database (this test process is not
the app). Calls and the fake's jobs are matched by seed: every call of a fault-test run has
a seed of its own (tests/faults/scenario.py).
"""

import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from .failures import RunNeverFinished

TERMINAL = {"done", "failed", "canceled", "unknown"}


@dataclass
class Tally:
    calls: int = 0
    statuses: Counter = field(default_factory=Counter)
    submits: int = 0  # jobs the fake created (each one billed)
    double_submits: int = 0  # calls with more than one job at the fake
    images_made: int = 0  # pictures in the results of jobs that finished for `done` calls
    images_saved: int = 0
    lost_images: int = 0  # made for a done call but not saved (or saved twice)
    lost_on_the_wire: int = 0  # jobs the fake made whose id never reached the call
    unknown_not_shown: int = 0  # of those, calls not marked `unknown`
    unknown_not_stranded: int = 0  # `unknown` though no kill or outage caught its submit
    run_status: str = ""
    run_finished: bool = False
    run_error: str = ""

    def figures(self) -> str:
        return (
            f"calls={self.calls} submits={self.submits} double_submits={self.double_submits} "
            f"images_made={self.images_made} images_saved={self.images_saved} "
            f"lost_images={self.lost_images} lost_on_the_wire={self.lost_on_the_wire} "
            f"unknown={self.statuses['unknown']} "
            f"unknown_not_stranded={self.unknown_not_stranded} statuses={dict(self.statuses)} "
            f"run={self.run_status}{' (finished)' if self.run_finished else ''}"
        )


class Ledger:
    def __init__(self, *, url: str, run_id: int, fake) -> None:
        self.url = url
        self.run_id = run_id
        self.fake = fake

    def _rows(self, sql: str, *params):
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def statuses(self) -> Counter:
        rows = self._rows(
            "SELECT status, count(*) FROM generation_providercall WHERE run_id = %s "
            "GROUP BY status",
            self.run_id,
        )
        return Counter(dict(rows))

    def run(self) -> tuple[str, bool, str]:
        status, finished_at, error = self._rows(
            "SELECT status, finished_at, error FROM generation_generationrun WHERE id = %s",
            self.run_id,
        )[0]
        return status, finished_at is not None, error

    def calls_settled(self) -> bool:
        """Every call of the run is in a terminal state."""
        return set(self.statuses()) <= TERMINAL

    def finished(self, *, within: float = 15.0) -> None:
        """The run is finished (its calls are); allow the periodic pass `within` seconds."""
        deadline = time.monotonic() + within
        while not self.run()[1]:
            if time.monotonic() > deadline:
                raise RunNeverFinished(self.describe())
            time.sleep(0.5)

    def on_the_wire(self) -> set[str]:
        """Calls whose submit has left (or is leaving) and whose answer is not saved yet."""
        rows = self._rows(
            "SELECT id FROM generation_providercall WHERE run_id = %s "
            "AND status = 'submitting' AND sending_at IS NOT NULL",
            self.run_id,
        )
        return {str(call_id) for (call_id,) in rows}

    def describe(self) -> str:
        status, finished, error = self.run()
        return f"run {status} (finished: {finished}, {error!r}), calls {dict(self.statuses())}"

    def tally(self, *, stranded: set[str] | None = None) -> Tally:
        """`stranded`: calls caught on the wire by a kill; only those may end `unknown`."""
        calls = self._rows(
            "SELECT id, status, external_id, (context->'inputs'->>'seed')::int "
            "FROM generation_providercall WHERE run_id = %s",
            self.run_id,
        )
        saved = dict(
            self._rows(
                "SELECT call_id, count(*) FROM characters_image i "
                "JOIN generation_providercall c ON c.id = i.call_id WHERE c.run_id = %s "
                "GROUP BY call_id",
                self.run_id,
            )
        )
        with self.fake._lock:
            jobs = list(self.fake.jobs.values())
        jobs_by_seed: dict[int, list] = {}
        for job in jobs:
            jobs_by_seed.setdefault(job.input.get("seed"), []).append(job)

        tally = Tally(calls=len(calls), submits=len(jobs))
        tally.run_status, tally.run_finished, tally.run_error = self.run()
        for call_id, status, external_id, seed in calls:
            tally.statuses[status] += 1
            mine = jobs_by_seed.get(seed, [])
            if len(mine) > 1:
                tally.double_submits += 1
            known = {job.request_id for job in mine}
            if status == "unknown" and stranded is not None and str(call_id) not in stranded:
                tally.unknown_not_stranded += 1
            if mine and external_id not in known:
                tally.lost_on_the_wire += 1
                if status != "unknown":
                    tally.unknown_not_shown += 1
            if status == "done":
                made = sum(
                    len((job.output or {}).get("images", []))
                    for job in mine
                    if job.request_id == external_id and job.finished
                )
                tally.images_made += made
                tally.images_saved += saved.get(call_id, 0)
                tally.lost_images += abs(made - saved.get(call_id, 0))
        return tally

    def in_flight(self) -> dict:
        """Where the run's calls stand right now (taken just before a kill)."""
        rows = dict(
            self._rows(
                "SELECT CASE WHEN status = 'submitting' AND sending_at IS NOT NULL "
                "THEN 'on_wire' ELSE status END, count(*) FROM generation_providercall "
                "WHERE run_id = %s GROUP BY 1",
                self.run_id,
            )
        )
        return {
            "open": sum(n for status, n in rows.items() if status not in TERMINAL),
            "on_wire": rows.get("on_wire", 0),
            "polling": rows.get("submitted", 0) + rows.get("running", 0),
            "downloading": rows.get("succeeded", 0),
        }
