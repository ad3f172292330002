"""A body too large for its endpoint is refused on its Content-Length, before it is read."""

import io

import pytest
from django.test import Client

from lorastudio.request_limits import body_limit

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


class Watched(io.BytesIO):
    """A request body that counts what was read of it."""

    read_bytes = 0

    def read(self, size=-1):
        data = super().read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.read_bytes += len(data)
        return data


def send(client, path, *, declared: int, content_type: str, body: bytes = b"x" * 4096, **extra):
    stream = Watched(body)
    response = client.generic(
        "POST",
        path,
        data=body,
        content_type=content_type,
        CONTENT_LENGTH=str(declared),
        **{"wsgi.input": stream},
        **extra,
    )
    return response, stream


def test_an_anonymous_huge_post_to_the_login_is_refused_before_a_byte_is_read():
    response, stream = send(
        Client(), "/login/", declared=300 * MB, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 413
    assert "this address takes at most 1.0 MB" in response.content.decode()
    assert stream.read_bytes == 0


def test_a_json_body_over_the_small_limit_gets_a_json_413(api):
    response, stream = send(
        api, "/api/characters", declared=2 * MB, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request body is 2.1 MB")
    assert stream.read_bytes == 0


def test_an_upload_may_be_larger_but_not_without_bound(api, character, settings):
    assert body_limit("POST", f"/api/characters/{character.slug}/images") == (
        settings.MAX_UPLOAD_REQUEST_BYTES
    )
    assert body_limit("POST", "/api/characters") == settings.MAX_REQUEST_BYTES
    response, stream = send(
        api,
        f"/api/characters/{character.slug}/images",
        declared=settings.MAX_UPLOAD_REQUEST_BYTES + 1,
        content_type="multipart/form-data; boundary=b",
    )
    assert response.status_code == 413 and stream.read_bytes == 0


def test_a_provider_webhook_has_its_own_limit(settings):
    response, stream = send(
        Client(),
        "/webhooks/replicate",
        declared=settings.MAX_WEBHOOK_BODY_BYTES + 1,
        content_type="application/json",
    )
    assert response.status_code == 413 and stream.read_bytes == 0


def test_a_chunked_body_without_a_length_is_refused_with_411(api):
    stream = Watched(b'{"name": "x"}')
    response = api.generic(
        "POST",
        "/api/characters",
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream},
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]


def test_a_content_length_that_is_not_a_number_is_a_400(api):
    response = api.generic(
        "POST",
        "/api/characters",
        data=b"{}",
        content_type="application/json",
        CONTENT_LENGTH="12abc",
    )
    assert response.status_code == 400
    assert "not a number" in response.json()["detail"]


def test_a_body_within_its_limit_goes_through(api):
    response = api.post("/api/characters", {"name": ""}, content_type="application/json")
    assert response.status_code == 422  # the view read it and answered on its content
