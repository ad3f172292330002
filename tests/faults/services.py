"""Private infrastructure for fault tests: a Redis, a Postgres cluster and the app's processes.

Everything here runs on spare loopback ports in temporary folders, so a test may stop, kill
and restart any of it without touching the shared Postgres (5432) and Redis (6379).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


# --- Redis -----------------------------------------------------------------------------------
class RedisServer:
    """A throwaway redis-server without persistence: a restart starts it empty, as in production
    without AOF, so everything queued on the broker is lost with it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._answers, timeout=15, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with contextlib.closing(self.client()) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop it the hard way (SIGKILL): nothing is saved, connections just break."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Postgres --------------------------------------------------------------------------------
def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (Debian keeps them off the PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")


class PostgresCluster:
    """A cluster of its own (initdb + pg_ctl) on a spare port, trust auth, no fsync.

    Postgres refuses to run as root, so under root the cluster belongs to the `postgres` user
    that Debian's server package creates, and its commands run through `runuser`.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.bindir = postgres_bindir()
        self.base = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self._as = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # From a folder the postgres user may enter (a checkout under /root is not one).
        return subprocess.run(
            [*self._as, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            cwd=self.base,
        )

    def init(self) -> PostgresCluster:
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )  # fmt: skip
        return self

    def start(self) -> PostgresCluster:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = self._run(
            str(self.bindir / "pg_ctl"),
            "-D", str(self.data),
            "-l", str(self.log),
            "-o", options,
            "-w",
            "-t", "60",
            "start",
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{_tail(self.log)}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down cleanly; `immediate` is a crash."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def answers(self) -> bool:
        try:
            with self.connect() as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str, *, template: str | None = None) -> str:
        with self.connect() as connection:
            clause = f' TEMPLATE "{template}"' if template else ""
            connection.execute(f'CREATE DATABASE "{name}"{clause}')
        return name

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


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
            raise AssertionError(f"{process.args[3:5]} exited:\n{_tail(self.logs[process.pid])}")
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
