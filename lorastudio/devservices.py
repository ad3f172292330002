"""`make run`'s Postgres and Redis: the machine's own when they answer, private ones otherwise.

    python -m lorastudio.devservices [--db-name NAME] -- COMMAND...

- Postgres: DATABASE_URL when set (its database is created if missing); else the server on
  127.0.0.1:5432 when it answers (database NAME); else a private cluster under .data/postgres
  (initdb once, then pg_ctl on a spare port), said so on the terminal.
- Redis: REDIS_URL when set; else 127.0.0.1:6379 when it answers; else a private redis-server
  under .data/redis on a spare port.
COMMAND runs with DATABASE_URL and REDIS_URL set. Ctrl-C stops it, then the private servers.
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from .private_servers import PostgresCluster, RedisServer

ROOT = Path(__file__).resolve().parents[1]
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def say(message: str) -> None:
    print(f"  [services] {message}", flush=True)


def _postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(_maintenance_url(url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _maintenance_url(url: str) -> str:
    """The same server, its `postgres` database (to create the one `url` names)."""
    return urlsplit(url)._replace(path="/postgres").geturl()


def ensure_database(url: str) -> None:
    """Create the database `url` names when its server lacks it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_maintenance_url(url), autocommit=True, connect_timeout=5) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
            say(f"created database {name}")


def _redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def postgres(db_name: str, started: list, *, data: Path, probe: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    local = f"{probe}/{db_name}"
    if url:
        say(f"Postgres: DATABASE_URL ({urlsplit(url).hostname}, database {url.rsplit('/', 1)[-1]})")
    elif _postgres_answers(local):
        url = local
        say(f"Postgres: the one on {urlsplit(probe).netloc}, database {db_name}")
    else:
        cluster = PostgresCluster(folder=data / "postgres")
        if not cluster.initialised:
            say(f"no Postgres answers on {urlsplit(probe).netloc}: making a private cluster")
            cluster.init()
        cluster.start()
        started.append(cluster)
        url = cluster.url(db_name)
        say(f"Postgres: private, on 127.0.0.1:{cluster.port} ({cluster.data}); Ctrl-C stops it")
    ensure_database(url)
    return url


def redis_url(started: list, *, data: Path, probe: str) -> str:
    url = os.environ.get("REDIS_URL", "")
    if url:
        say(f"Redis: REDIS_URL ({urlsplit(url).hostname}:{urlsplit(url).port})")
        return url
    if _redis_answers(probe):
        say(f"Redis: the one on {urlsplit(probe).netloc}")
        return probe
    server = RedisServer(folder=data / "redis").start()
    started.append(server)
    say(f"Redis: private, on 127.0.0.1:{server.port} ({server.dir}); Ctrl-C stops it")
    return server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-name", default="lorastudio")
    parser.add_argument("--data", type=Path, default=ROOT / ".data", help="private servers' home")
    parser.add_argument("--postgres-probe", default=LOCAL_POSTGRES, help="the server to try first")
    parser.add_argument("--redis-probe", default=LOCAL_REDIS, help="the server to try first")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    started: list = []
    try:
        env = {
            **os.environ,
            "DATABASE_URL": postgres(
                args.db_name, started, data=args.data, probe=args.postgres_probe
            ),
            "REDIS_URL": redis_url(started, data=args.data, probe=args.redis_probe),
        }
        command = subprocess.Popen(args.command, env=env)
        # Ctrl-C reaches the command too (same terminal): let it stop first, then stop ours.
        # (Ignored only now: a child started with SIGINT ignored would ignore it as well.)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return command.wait()
    finally:
        for server in reversed(started):
            server.stop()
        if started:
            say("private servers stopped")


if __name__ == "__main__":
    sys.exit(main())
