import copy
import hashlib
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.factories import UserFactory, presets

# Production defaults redirect to https; the test client and the live server (whose
# middleware is built once per session) speak plain http.
django_settings.SECURE_SSL_REDIRECT = False
django_settings.SESSION_COOKIE_SECURE = False
django_settings.CSRF_COOKIE_SECURE = False
django_settings.SECURE_HSTS_SECONDS = 0


# Two suites running at once on one machine would drop each other's test database. (Set
# here, before pytest-django adds its own suffix per xdist worker: _gw0, _gw1, ...)
if os.environ.get("TEST_DB_SUFFIX"):
    _test = django_settings.DATABASES["default"].setdefault("TEST", {})
    _test["NAME"] = (
        f"test_{django_settings.DATABASES['default']['NAME']}_{os.environ['TEST_DB_SUFFIX']}"
    )


# Where each part runs under pytest-xdist (`make test` runs four workers, each given one test
# at a time in this order, with one more queued behind it). pytest-django orders by database
# use: the tests in a transaction, then those that flush the database (browser walks, real
# worker pools), then those without any, the fault tests among them (each worker's first one
# makes its private Postgres cluster). Within each, the longest parts go first. The suite keeps
# both cores busy (vmstat: 2 % idle), so what a test costs matters most; where it runs decides
# the tail. The hundred-call run under twenty worker kills is the longest test (3 minutes
# beside the rest): left with the other fault tests it started at 334 s and ended the run alone
# at 554 s, the other workers idle from 416 s. It goes at the head of the tests that flush,
# beside the browser walks. (Grouping the fault tests on one worker took 689 s: dropped.)
TESTS = Path(__file__).resolve().parent
LONGEST_FIRST = ["faults", "browser", "generation"]  # the kills test: see below
KILLS = TESTS / "faults" / "test_worker_kills.py"


@pytest.hookimpl(tryfirst=True)  # before pytest-django's sort, which keeps this order within
def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        if not item.path.is_relative_to(TESTS):
            return len(LONGEST_FIRST)
        where = item.path.relative_to(TESTS).as_posix()
        return next(
            (n for n, prefix in enumerate(LONGEST_FIRST) if where.startswith(prefix)),
            len(LONGEST_FIRST),
        )

    items.sort(key=rank)  # stable: the order within each part stays


class _KillsWithTheBrowserWalks:
    """After pytest-django has ordered the tests: the worker-kills test moves to just before
    the first browser walk."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        kills = [item for item in items if item.path == KILLS]
        rest = [item for item in items if item.path != KILLS]
        browser = TESTS / "browser"
        at = next((n for n, i in enumerate(rest) if i.path.is_relative_to(browser)), 0)
        items[:] = rest[:at] + kills + rest[at:]


def pytest_configure(config):
    config.pluginmanager.register(_KillsWithTheBrowserWalks(), "kills-with-the-browser-walks")


@pytest.fixture(autouse=True, scope="session")
def _likeness_readings_remembered():
    """Each measure reads the same pixels once per test process: the suite's real photos are
    read by the face descriptor again and again (half a second each), and a reading depends on
    the pixels alone. The measures' own tests call characters.likeness.face and .rough
    directly, which stay as they are."""
    from characters.likeness import MEASURES

    readings = {}
    for measure in list(MEASURES.values()):

        def describe(rgb, *, original_side=None, _describe=measure.describe, _name=measure.name):
            pixels = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
            key = (_name, pixels, rgb.shape, original_side)
            if key not in readings:
                readings[key] = _describe(rgb, original_side=original_side)
            return copy.deepcopy(readings[key])

        measure.describe = describe
    yield
    for measure in MEASURES.values():
        measure.__dict__.pop("describe", None)


@pytest.fixture(autouse=True)
def _private_media_in_a_temporary_folder(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "lorastudio.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }


@pytest.fixture
def eager_tasks(transactional_db):
    """Run Celery tasks inline as their transactions commit: the whole chain in-process."""
    from lorastudio.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


def _logging_state() -> dict:
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return {
        "loggers": {
            logger: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
            for logger in loggers
        },
        "showwarning": warnings.showwarning,
        "environ": dict(os.environ),
    }


def _restore_logging(saved: dict) -> None:
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if not isinstance(logger, logging.Logger):
            continue
        # A logger made meanwhile (by the worker) goes back to how a new logger starts.
        level, handlers, propagate, disabled = saved["loggers"].get(
            logger, (logging.NOTSET, [], True, False)
        )
        logger.setLevel(level)  # also empties the loggers' cached effective levels
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled
    if warnings.showwarning is not saved["showwarning"]:
        logging.captureWarnings(False)  # the worker turned it on: put showwarning back
    for key in os.environ.keys() - saved["environ"].keys():
        del os.environ[key]
    os.environ.update(saved["environ"])


@pytest.fixture
def worker_in_a_thread():
    """`with worker_in_a_thread(queues=[...]):` runs a worker of the project app in a thread.

    Celery's start_worker sets logging up as a worker process would: the root logger to
    ERROR, the task logger cut off from the root, warnings routed into logging, CELERY_LOG_*
    in os.environ. That is process-wide: every later test in this pytest process would lose
    its warnings (caplog sees nothing below ERROR). So each worker, as it stops, puts all of
    it back as it found it.
    """
    from celery.app.log import Logging
    from celery.contrib.testing.worker import start_worker

    from lorastudio.celery import app

    @contextmanager
    def worker(queues: list[str]):
        saved, was_set_up = _logging_state(), Logging._setup
        try:
            with start_worker(
                app, queues=queues, perform_ping_check=False, shutdown_timeout=20
            ) as started:
                yield started
        finally:
            _restore_logging(saved)
            Logging._setup = was_set_up  # as start_worker itself resets it before it begins

    return worker


@pytest.fixture
def user(db):
    return UserFactory(username="artist")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def loaded_presets(db):
    return presets()


@pytest.fixture
def api(user):
    """A client of the JSON API with a bearer token of `user`."""
    from django.test import Client

    from lorastudio.tokens import issue_api_token

    _, key = issue_api_token(user=user, name="tests")
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def character(loaded_presets):
    """A character made from the fitness preset: 8 poses and its variation specs."""
    from characters.services import create_character

    return create_character(
        name="Fit",
        trigger_word="fitmannequin",
        base_prompt="orange mannequin, cream background",
        preset="fitness",
    )
