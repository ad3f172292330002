"""STORAGE=s3: django-storages against an S3-compatible server (moto, on loopback)."""

import socket
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from django.core.files.base import ContentFile
from moto.server import ThreadedMotoServer

from tests.factories import ImageFactory, png_bytes

BUCKET = "lorastudio-test"
REGION = "us-east-1"
FAKE_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """A moto S3 server on loopback with an empty bucket; fake credentials only."""
    with pytest.MonkeyPatch.context() as mp:
        # Nothing may fall back to real credentials or config in ~/.aws.
        mp.setenv("AWS_ACCESS_KEY_ID", FAKE_KEYS["aws_access_key_id"])
        mp.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEYS["aws_secret_access_key"])
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", str(tmp_path_factory.mktemp("aws") / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path_factory.mktemp("aws") / "creds"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        try:
            _s3_client(endpoint).create_bucket(Bucket=BUCKET)
            yield endpoint
        finally:
            server.stop()


def _s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **FAKE_KEYS)


@pytest.fixture
def s3(settings, s3_endpoint):
    """Make PrivateS3Storage the default storage; yields a boto3 client on the same server."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "lorastudio.storage.PrivateS3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": FAKE_KEYS["aws_access_key_id"],
                "secret_key": FAKE_KEYS["aws_secret_access_key"],
                "region_name": REGION,
            },
        },
    }
    return _s3_client(s3_endpoint)


def _save(content: bytes, name: str = "notes/hello.txt") -> str:
    from django.core.files.storage import default_storage  # after the STORAGES change

    return default_storage.save(name, ContentFile(content))


def test_saving_through_default_storage_puts_the_bytes_in_the_bucket(s3):
    """A file saved through default_storage is an object in the bucket with the same bytes."""
    name = _save(b"pose sheet v1")

    assert s3.head_object(Bucket=BUCKET, Key=name)["ContentLength"] == len(b"pose sheet v1")
    assert s3.get_object(Bucket=BUCKET, Key=name)["Body"].read() == b"pose sheet v1"


def test_stored_objects_are_private_and_refuse_anonymous_reads(s3, s3_endpoint):
    """The object's ACL grants nothing to AllUsers, and a plain anonymous GET gets 403."""
    name = _save(b"secret caption")

    grants = s3.get_object_acl(Bucket=BUCKET, Key=name)["Grants"]
    assert grants, "the owner should hold a grant"
    assert not [g for g in grants if g["Grantee"].get("URI") == ALL_USERS]
    # moto does enforce object ACLs on unsigned requests (checked: public-read gives 200).
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3_endpoint}/{BUCKET}/{name}", timeout=5)
    assert refused.value.code == 403


def test_storage_url_is_a_signed_app_link_not_an_s3_url(s3, s3_endpoint):
    """default_storage.url() points at our media view with expiry and signature."""
    from django.core.files.storage import default_storage

    url = default_storage.url(_save(b"x"))

    assert url.startswith("/media/")
    assert {"expires", "sig"} <= parse_qs(urlsplit(url).query).keys()
    assert s3_endpoint not in url and "amazonaws" not in url and "X-Amz" not in url


@pytest.mark.django_db
def test_a_signed_link_to_an_s3_file_redirects_to_a_short_lived_presigned_url(
    s3, client, s3_endpoint, settings
):
    """The web tier checks the link and sends the browser to S3: the bytes never pass it."""
    from django.core.files.storage import default_storage

    settings.MEDIA_PRESIGN_TTL = 120
    content = png_bytes()
    url = default_storage.url(_save(content, "images/sheet.png"))

    response = client.get(url)

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_endpoint}/{BUCKET}/images/sheet")
    query = parse_qs(urlsplit(location).query)
    assert "Signature" in query or "X-Amz-Signature" in query
    expires = int(query["Expires"][0]) - time.time() if "Expires" in query else 120
    assert 100 < expires <= 121 or query.get("X-Amz-Expires") == ["120"]
    assert "max-age=60" in response["Cache-Control"]
    with urllib.request.urlopen(location, timeout=10) as fetched:
        assert fetched.read() == content


@pytest.mark.django_db
def test_the_presigned_url_can_name_the_public_endpoint_the_browser_reaches(s3, client, settings):
    from django.core.files.storage import default_storage

    settings.S3_PUBLIC_ENDPOINT_URL = "https://studio.example.com"
    url = default_storage.url(_save(b"x", "images/a.png"))
    location = client.get(url)["Location"]
    assert location.startswith(f"https://studio.example.com/{BUCKET}/images/a")


@pytest.mark.django_db
def test_media_view_refuses_a_link_with_a_tampered_signature(s3, client):
    """Changing the sig of a valid link makes the media view answer 403."""
    from django.core.files.storage import default_storage

    url = default_storage.url(_save(b"private"))
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    tampered = url.replace(f"sig={sig}", f"sig={flipped}")

    assert client.get(tampered).status_code == 403


@pytest.mark.django_db
def test_an_image_saved_through_the_model_lands_in_the_bucket(s3):
    """characters.Image's ImageField writes to S3 and reads dimensions back."""
    image = ImageFactory()

    assert image.file.name.startswith("images/")
    head = s3.head_object(Bucket=BUCKET, Key=image.file.name)
    assert head["ContentLength"] == len(png_bytes())
    assert (image.width, image.height) == (48, 64)
