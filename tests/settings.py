"""The test suite's settings: the project's one settings module, run with a key of its own.

The suite runs with DEBUG=false (as production does), where the settings refuse to start
without SECRET_KEY. The key is put in the environment, not in the settings, so the worker
processes that tests start inherit it too.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-key-not-secret-" + "x" * 40)

from lorastudio.settings import *  # noqa: E402, F403

# Logins in tests check passwords many times (throttling tests above all): hash them cheaply.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
