"""The test suite's settings: the project's one settings module, run with a key of its own.

The suite runs with DEBUG=false (as production does), where the settings refuse to start
without SECRET_KEY. The key is put in the environment, not in the settings, so the worker
processes that tests start inherit it too.

Each test process (each pytest-xdist worker, or the one process of a serial run) talks to a
redis-server of its own on a spare port: the cache, the broker and the result backend never
meet another process's, nor the machine's Redis, nor a `make run` worker's queue. Processes
that tests start inherit that server through the environment.
"""

import atexit
import os

os.environ.setdefault("SECRET_KEY", "tests-only-key-not-secret-" + "x" * 40)


def _private_redis() -> str:
    """redis://127.0.0.1:PORT of this test process's own Redis (started once per process)."""
    owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
    known = os.environ.get("TEST_REDIS_SERVER", "")
    if known.startswith(f"{owner}|"):  # a process a test started: its test process's server
        return known.split("|", 1)[1]
    from lorastudio.private_servers import RedisServer

    server = RedisServer().start()
    atexit.register(server.close)
    address = f"redis://127.0.0.1:{server.port}"
    os.environ["TEST_REDIS_SERVER"] = f"{owner}|{address}"
    # Database 0: the broker and results (the settings derive both from REDIS_URL); 1: the
    # cache (below; tests clear it, which flushes it); 2 and up: tests that start workers of
    # their own (redis_db). Celery would prefer CELERY_BROKER_URL from the environment over
    # what a test configures: none is inherited.
    os.environ["REDIS_URL"] = f"{address}/0"
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    return address


TEST_REDIS = _private_redis()


def redis_db(number: int) -> str:
    """A database of this test process's private Redis."""
    return f"{TEST_REDIS}/{number}"


from lorastudio.settings import *  # noqa: E402, F403

CACHES = {"default": {**CACHES["default"], "LOCATION": redis_db(1)}}  # noqa: F405

# Logins in tests check passwords many times (throttling tests above all): hash them cheaply.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
