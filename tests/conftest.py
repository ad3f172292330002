import pytest

from tests.factories import UserFactory, presets


@pytest.fixture(autouse=True)
def _plain_http_and_private_media(settings, tmp_path):
    # Production defaults redirect to https; the test client and live server speak http.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "lorastudio.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }


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
