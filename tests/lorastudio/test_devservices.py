"""`make run` on a machine whose Postgres and Redis are not running: it starts private ones
(lorastudio/devservices.py), says so, runs the app's command against them, and stops them
when the command ends or Ctrl-C stops it. It honours DATABASE_URL."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from lorastudio.private_servers import free_port
from tests.faults.services import wait_for

ROOT = Path(__file__).resolve().parents[2]
# What the command sees: it connects to both and prints where they are.
CHECK = (
    "import os, psycopg, redis;"
    "psycopg.connect(os.environ['DATABASE_URL']).close();"
    "redis.Redis.from_url(os.environ['REDIS_URL']).ping();"
    "print('DB', os.environ['DATABASE_URL']);"
    "print('REDIS', os.environ['REDIS_URL'], flush=True);"
)


@pytest.fixture
def data():
    """The private servers' home: a folder the `postgres` user may enter (pytest's own
    temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="devservices-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def devservices(data, *command, env=None, **popen):
    nothing = f"127.0.0.1:{free_port()}"  # no server answers there
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.Popen(
        [
            sys.executable, "-m", "lorastudio.devservices",
            "--db-name", "devdb",
            "--data", str(data),
            "--postgres-probe", f"postgres://postgres@{nothing}",
            "--redis-probe", f"redis://{nothing}/0",
            "--", *command,
        ],
        cwd=ROOT,
        env={**environment, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )  # fmt: skip


def _answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def test_with_no_postgres_or_redis_it_starts_private_ones_and_stops_them_after(data):
    process = devservices(data, sys.executable, "-c", CHECK)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "Postgres: private" in output and "Redis: private" in output
    assert "created database devdb" in output and "private servers stopped" in output
    database = next(line.split()[1] for line in output.splitlines() if line.startswith("DB "))
    assert database.endswith("/devdb")
    assert not _answers(database)  # stopped with the command
    assert (data / "postgres" / "data" / "PG_VERSION").exists()  # kept for next time


def test_ctrl_c_stops_the_command_and_then_the_private_servers(data):
    waiting = CHECK + "import time; time.sleep(120)"
    process = devservices(data, sys.executable, "-c", waiting, start_new_session=True)
    lines = []
    wait_for(
        lambda: lines.append(process.stdout.readline()) or lines[-1].startswith("REDIS"),
        timeout=120,
        what="the command to run",
    )
    database = next(line.split()[1] for line in lines if line.startswith("DB "))
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    output, _ = process.communicate(timeout=60)
    assert "private servers stopped" in output
    assert not _answers(database)


@pytest.mark.django_db
def test_it_honours_database_url_and_creates_the_database_it_names(data):
    from django.db import connection

    settings = connection.settings_dict
    server = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
    name = f"devservices_{free_port()}"
    url = f"{server}/{name}"
    process = devservices(
        data, sys.executable, "-c", CHECK, env={"DATABASE_URL": url, "REDIS_URL": ""}
    )
    output, _ = process.communicate(timeout=120)
    try:
        assert process.returncode == 0, output
        assert f"DB {url}" in output and f"created database {name}" in output
        assert "Postgres: private" not in output
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
