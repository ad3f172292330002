import os

import pytest
from django.conf import settings as django_settings

from tests.factories import UserFactory, presets

# Production defaults redirect to https; the test client and the live server (whose
# middleware is built once per session) speak plain http.
django_settings.SECURE_SSL_REDIRECT = False
django_settings.SESSION_COOKIE_SECURE = False
django_settings.CSRF_COOKIE_SECURE = False
django_settings.SECURE_HSTS_SECONDS = 0
# The cache (and so webhook dedupe, learned durations, heartbeats) on a Redis database of its
# own, so tests can clear it without touching a running app's queue on database 0.
django_settings.CACHES["default"]["LOCATION"] = os.environ.get(
    "TEST_REDIS_CACHE_URL", "redis://127.0.0.1:6379/13"
)


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    # Two suites running at once on one machine would drop each other's test database.
    suffix = os.environ.get("TEST_DB_SUFFIX")
    if suffix:
        test = django_settings.DATABASES["default"].setdefault("TEST", {})
        test["NAME"] = f"test_{django_settings.DATABASES['default']['NAME']}_{suffix}"


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
