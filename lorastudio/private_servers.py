"""Private Postgres and Redis servers on spare loopback ports, started from their binaries.

`make run` starts them when no Postgres or Redis answers (bin/devservices.py), the test suite
gives each test process a Redis of its own, and the fault tests stop, kill and restart them at
will. No Django here: this runs before any settings exist.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies, however it
    dies (a killed test worker runs no atexit), so no server outlives its user (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


# --- Redis -----------------------------------------------------------------------------------
class RedisServer:
    """A redis-server without persistence: a restart starts it empty, as in production
    without AOF, so everything queued on the broker is lost with it."""

    def __init__(self, *, port: int | None = None, folder: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_folder = folder is None
        self.dir = Path(folder or tempfile.mkdtemp(prefix="private-redis-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/sbin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to pass on, in order
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        _wait(self.answers, timeout=15, what=f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{tail(self.dir / 'redis.log')}")
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
        if self._own_folder:
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

    def __init__(self, *, port: int | None = None, folder: Path | None = None) -> None:
        self.port = port or free_port()
        self.bindir = postgres_bindir()
        self._own_folder = folder is None
        self.base = Path(folder or tempfile.mkdtemp(prefix="private-pg-"))
        self.base.mkdir(parents=True, exist_ok=True)
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self._as = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
            closed = [p for p in self.base.parents if not os.stat(p).st_mode & 0o001]
            if closed:
                raise RuntimeError(
                    f"The postgres user cannot reach {self.base}: {closed[0]} is closed to "
                    "others (chmod o+x it, or keep the checkout elsewhere)."
                )

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # From a folder the postgres user may enter (a checkout under /root is not one).
        result = subprocess.run(
            [*self._as, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.base,
            start_new_session=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()}")
        return result

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

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
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{tail(self.log)}")
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

    def has_database(self, name: str) -> bool:
        with self.connect() as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return found.fetchone() is not None

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
                self.stop("immediate")
        if self._own_folder:
            shutil.rmtree(self.base, ignore_errors=True)
