"""The benchmarks' own database: made when missing (or afresh), migrated, presets loaded."""

import psycopg


def prepare_bench_database(name: str = "lorastudio_bench", *, fresh: bool = False) -> None:
    """Create `name` on the local Postgres (DATABASE_URL must point at it), then set up Django."""
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
