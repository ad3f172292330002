"""The benchmarks' own database: made when missing (or afresh), migrated, presets loaded."""

import os
from urllib.parse import urlsplit

import psycopg


def prepare_bench_database(name: str | None = None, *, fresh: bool = False) -> None:
    """Create the database DATABASE_URL names (or `name`) on the local Postgres, then set up
    Django."""
    url = os.environ.get("DATABASE_URL", "")
    name = name or urlsplit(url).path.lstrip("/") or "lorastudio_bench"
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_presets", verbosity=0)
