"""Private infrastructure for fault tests: a Redis, a Postgres cluster and the app's processes.

Everything here runs on spare loopback ports in temporary folders, so a test may stop, kill
and restart any of it without touching the shared Postgres (5432) and Redis (6379). The
servers are the project's own (lorastudio/private_servers.py, which `make run` uses too).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lorastudio.private_servers import (  # noqa: F401 (the fault tests' servers)
    PostgresCluster,
    RedisServer,
    free_port,
    tail,
)

ROOT = Path(__file__).resolve().parents[2]


def wait_for(
    condition, *, timeout: float = 30.0, what: str = "condition", every: float = 0.1, explain=None
):
    """Poll `condition` until it returns something truthy; return that, or fail at the deadline
    (saying what `explain()` returns then, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            found = f": {explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{found}")
        time.sleep(every)


# --- The app's processes ---------------------------------------------------------------------
class App:
    """The app's worker, beat and web processes, configured only by the environment, pointed at
    a private database and Redis. Every process is started in a session of its own so SIGKILL
    takes its children too; `close` ends whatever is still running."""

    def __init__(self, *, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        self.web_port = 0

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None):
        log = self.folder / f"{name}-{len(self.processes)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def manage(self, *args: str) -> str:
        """Run a management command to completion; its output, or an error with it."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def scenario(self, *args: str) -> str:
        """Run tests/faults/scenario.py inside the app's configuration."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.faults.scenario", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"scenario {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout.strip()

    def start_worker(self, *, concurrency: int = 4, wait: bool = True, env=None):
        """A worker as deployed (docker/entrypoint.sh): the prefork pool, 4 processes."""
        process = self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lorastudio",
                "worker",
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-l",
                "info",
            ],  # fmt: skip
            env,
        )
        if wait:
            wait_for(
                lambda: self._alive(process) and "ready." in self.log_of(process),
                timeout=60,
                what="the worker to be ready",
            )
        return process

    def start_beat(self):
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lorastudio",
                "beat",
                "-s",
                str(self.folder / "beat-schedule"),
                "-l",
                "info",
            ],  # fmt: skip
        )

    def start_web(self):
        self.web_port = free_port()
        process = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "lorastudio.wsgi",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                "1",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],  # fmt: skip
        )
        wait_for(
            lambda: self._alive(process) and "Booting worker" in self.log_of(process),
            timeout=60,
            what="the web server to be up",
        )
        return process

    def _alive(self, process) -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[3:5]} exited:\n{tail(self.logs[process.pid])}")
        return True

    def log_of(self, process) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    @staticmethod
    def kill(process) -> None:
        """SIGKILL the process and its children: no chance to ack, clean up or finish a write."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
