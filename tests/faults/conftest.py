"""Fault tests: the app's real processes on a Postgres and a Redis of their own.

The session gets one private Postgres cluster with a migrated template database; every test
gets a fresh database copied from it, a fresh redis-server, the fal protocol fake and an `App`
that starts worker, beat and web processes configured only through the environment.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path
from uuid import uuid4

import pytest

from tests.fakes.fal import FakeFal

from .services import App, PostgresCluster, RedisServer

TEMPLATE = "faults_template"
# The app's own settings module (not the suite's tests.settings), as deployed.
PRODUCTION = {"DJANGO_SETTINGS_MODULE": "lorastudio.settings", "DEBUG": "false"}
# The app's configuration for the fault tests; anything else comes from the defaults.
SCALED = {
    "CALL_TICK_SECONDS": "0.5",
    # Scaled down from production (see the redelivery test for the production values).
    "CALL_CLAIM_LEASE_SECONDS": "5",
    "CALL_SUBMIT_LEASE_SECONDS": "3",
    "CELERY_VISIBILITY_TIMEOUT": "4",
}


@pytest.fixture(scope="session")
def postgres():
    """A Postgres cluster of the fault tests' own, with the app's migrations in a template."""
    cluster = PostgresCluster().init().start()
    try:
        cluster.create_database(TEMPLATE)
        env = {**os.environ, **PRODUCTION, "DATABASE_URL": cluster.url(TEMPLATE), "SECRET_KEY": "x"}
        App(env=env, folder=cluster.base).manage("migrate", "--noinput", "-v", "0")
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def fal_fake():
    with FakeFal() as fake:
        yield fake


@pytest.fixture
def app(postgres, redis_server, fal_fake, request):
    """The app's processes on a fresh database, the private Redis and the fal fake."""
    if not postgres.answers():  # a test that stopped it and failed before restarting it
        postgres.start()
    database = postgres.create_database(f"faults_{uuid4().hex[:12]}", template=TEMPLATE)
    folder = Path(tempfile.mkdtemp(prefix="faults-app-"))
    env = {
        **os.environ,
        **fal_fake.env,
        **PRODUCTION,
        **SCALED,
        "DATABASE_URL": postgres.url(database),
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
        "CELERY_RESULT_BACKEND": redis_server.url,
        "CELERY_QUEUE": "lorastudio",
        "SECRET_KEY": "fault-tests-" + uuid4().hex,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STORAGE": "local",
        "MEDIA_ROOT": str(folder / "media"),
        "PROVIDER": "fal",
        "FAL_KEY": fal_fake.key,
        "PUBLIC_BASE_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    processes = App(env=env, folder=folder)
    yield processes
    processes.close()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\nfault test logs kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


def launch(app: App, *, calls: int, images: int = 2) -> dict:
    """A fal anchors run of `calls` calls, launched inside the app: {"run": id, "token": key}."""
    return json.loads(app.scenario("launch", "--calls", str(calls), "--images", str(images)))
