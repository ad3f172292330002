import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse, set_script_prefix

from lorastudio.media import signed_media_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored():
    return default_storage.save(
        "images/secret.png", ContentFile(b"\x89PNG-bytes", name="secret.png")
    )


def test_a_file_url_is_a_signed_link_to_our_media_view(stored):
    url = default_storage.url(stored)
    parts = urlsplit(url)
    assert parts.path == f"/media/{stored}"
    assert set(parse_qs(parts.query)) == {"expires", "sig"}


def test_anyone_with_a_valid_signed_link_gets_the_file(client, stored):
    response = client.get(default_storage.url(stored))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG-bytes"
    assert response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"]


def test_media_without_a_signature_needs_a_login(client, stored, user):
    assert client.get(f"/media/{stored}").status_code == 403
    client.force_login(user)
    assert client.get(f"/media/{stored}").status_code == 200


def test_a_tampered_link_is_refused(client, stored):
    url = default_storage.url(stored).replace("secret.png", "other.png")
    assert client.get(url).status_code == 403


def test_an_expired_link_is_refused(client, stored, time_machine):
    url = signed_media_url(stored, ttl=60)
    time_machine.move_to(time.time() + 120)
    assert client.get(url).status_code == 403


def test_absolute_links_use_the_public_base_url(settings, stored):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    assert signed_media_url(stored, absolute=True).startswith("https://studio.example.com/media/")


def test_paths_that_climb_out_of_media_are_not_served(client, user):
    client.force_login(user)
    assert client.get("/media/../lorastudio/settings.py").status_code == 404


@pytest.mark.parametrize("folder", ["images", "images/", ""])
def test_a_folder_is_not_found_not_an_error(client, user, stored, folder):
    client.force_login(user)
    assert client.get(f"/media/{folder}").status_code == 404


def test_a_signed_link_to_a_folder_is_not_found(client, stored):
    assert client.get(signed_media_url("images")).status_code == 404


def test_a_deleted_images_signed_link_stops_serving(
    client, character, django_capture_on_commit_callbacks
):
    from tests.factories import ImageFactory

    image = ImageFactory(character=character)
    image.thumbnail.save("thumb.jpg", ContentFile(b"thumb-bytes"), save=True)
    links = [signed_media_url(image.file.name), signed_media_url(image.thumbnail.name)]
    assert [client.get(link).status_code for link in links] == [200, 200]

    with django_capture_on_commit_callbacks(execute=True):
        image.delete()

    assert [client.get(link).status_code for link in links] == [404, 404]


def test_deleting_a_character_takes_its_images_files_too(
    client, character, django_capture_on_commit_callbacks
):
    from tests.factories import ImageFactory

    image = ImageFactory(character=character)
    link = signed_media_url(image.file.name)
    with django_capture_on_commit_callbacks(execute=True):
        character.delete()
    assert client.get(link).status_code == 404


def test_behind_nginx_django_checks_the_link_and_nginx_sends_the_file(client, stored, settings):
    settings.MEDIA_ACCEL_REDIRECT = "/_protected_media/"
    response = client.get(signed_media_url(stored))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == "/_protected_media/images/secret.png"
    assert response["Content-Type"] == "image/png" and response.content == b""
    assert client.get(signed_media_url(stored) + "x").status_code == 403
    assert client.get(signed_media_url("images/none.png")).status_code == 404
    assert client.get(signed_media_url("images")).status_code == 404


@pytest.mark.parametrize("prefix", ["/", "/studio/"])
def test_a_links_path_is_the_media_routes_however_odd_the_file_name(prefix):
    names = ["images/a.png", "a b/ç%20?#&=+.png", "t/x;y,z@~'!$()*.webp", "ü/🙂.png", "a//b"]
    set_script_prefix(prefix)
    try:
        for name in names:
            path = urlsplit(signed_media_url(name)).path
            assert path == urlsplit(reverse("media", kwargs={"path": name})).path
            assert path.startswith(f"{prefix}media/")
    finally:
        set_script_prefix("/")
