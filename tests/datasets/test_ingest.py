"""Upload ingest: every kind of bad file gets a clear outcome, and nothing is half-saved."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from characters.models import Image, ShotSource
from datasets import ingest
from datasets.models import Upload
from tests.characters.test_shot_types import astronaut

pytestmark = pytest.mark.usefixtures("_files_in_a_clean_storage")


@pytest.fixture
def _files_in_a_clean_storage():
    """Storage is a fresh temporary folder per test (tests/conftest.py)."""


GPS_IFD = 0x8825


def photo_bytes(size=(1200, 900), *, kind="JPEG", exif=None, seed=1, picture=None) -> bytes:
    """A sharp, detailed picture (noise over a gradient), as a camera would save it."""
    if picture is None:
        rng = np.random.default_rng(seed)
        width, height = size
        gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        noise = rng.integers(0, 90, (height, width, 3)).astype(np.float32)
        picture = PILImage.fromarray(np.clip(gradient * 0.6 + noise, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    picture.save(out, kind, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def ingest_bytes(character, content: bytes, name="photo.jpg"):
    return ingest.ingest_file(character=character, handle=io.BytesIO(content), filename=name)


def stored_files() -> list[str]:
    root = Path(default_storage.location)
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


def assert_nothing_saved(character):
    assert not character.images.exists()
    assert stored_files() == []


@pytest.mark.django_db
def test_a_good_photo_becomes_an_upload_image_with_its_facts(character):
    result = ingest_bytes(character, photo_bytes(picture=astronaut().resize((1024, 1024))))
    assert result.outcome == "accepted", result.reason
    image = result.image
    assert image.kind == Image.Kind.UPLOAD and image.original_filename == "photo.jpg"
    assert (image.width, image.height) == (1024, 1024)
    assert len(image.sha256) == 64 and len(image.phash) == 16 and image.size_bytes > 0
    assert image.thumbnail and image.file
    assert image.shot_type == "mid" and image.shot_source == ShotSource.DETECTED
    assert image.warnings == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"", "empty.jpg", "empty"),
        (b"%PDF-1.4 not a picture at all" * 20, "scan.jpg", "not a picture we can read"),
        (b"GIF89a" + photo_bytes(kind="GIF")[6:], "anim.png", "not a JPEG, PNG, WebP or HEIC"),
        (photo_bytes()[:4000], "cut.jpg", "damaged or cut short"),
        (photo_bytes(size=(40, 40)), "tiny.jpg", "sides must be between"),
    ],
    ids=["zero-bytes", "wrong-type-with-an-image-extension", "gif", "truncated", "absurd-size"],
)
def test_a_bad_file_is_rejected_with_a_reason_and_nothing_is_saved(
    character, content, name, reason
):
    result = ingest_bytes(character, content, name)
    assert result.outcome == "rejected"
    assert reason in result.reason
    assert_nothing_saved(character)


@pytest.mark.django_db
def test_a_decompression_bomb_is_refused_before_it_is_decoded(character, settings, monkeypatch):
    # Pillow's limit is process-wide: put it back after, or later tests in this process
    # open their pictures under 1 MP (a DecompressionBombWarning in the run's summary).
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", PILImage.MAX_IMAGE_PIXELS)
    settings.MAX_UPLOAD_PIXELS = 1_000_000
    bomb = photo_bytes(size=(1500, 1500))  # 2.25 MP, a small file: a bomb for this limit
    result = ingest_bytes(character, bomb)
    assert result.outcome == "rejected" and "decompression bomb" in result.reason
    assert_nothing_saved(character)


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused(character, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    result = ingest_bytes(character, photo_bytes())
    assert result.outcome == "rejected" and "the limit is" in result.reason
    assert_nothing_saved(character)


@pytest.mark.django_db
def test_the_same_file_twice_is_a_duplicate_naming_the_first_image(character):
    content = photo_bytes()
    first = ingest_bytes(character, content)
    again = ingest_bytes(character, content, "copy.jpg")
    assert again.outcome == "duplicate"
    assert again.image.id == first.image.id and f"#{first.image.id}" in again.reason
    assert character.images.count() == 1


@pytest.mark.django_db
def test_a_near_duplicate_is_accepted_with_a_warning_naming_the_image(character):
    first = ingest_bytes(character, photo_bytes(picture=astronaut()))
    resaved = astronaut().resize((500, 500))  # the same photo, smaller and saved again
    second = ingest_bytes(character, photo_bytes(picture=resaved), "again.jpg")
    assert second.outcome == "accepted"
    assert f"Looks like image #{first.image.id}" in " ".join(second.image.warnings)


@pytest.mark.django_db
def test_an_exif_rotated_photo_is_stored_upright(character):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    result = ingest_bytes(character, photo_bytes(size=(1200, 900), exif=exif))
    image = result.image
    assert (image.width, image.height) == (900, 1200)
    with image.file.open("rb") as handle, PILImage.open(handle) as stored:
        assert stored.size == (900, 1200)
        assert 0x0112 not in stored.getexif()


@pytest.mark.django_db
def test_gps_and_camera_metadata_are_not_kept(character):
    exif = PILImage.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[GPS_IFD] = {1: "N", 2: (52.0, 22.0, 5.0), 3: "E", 4: (4.0, 53.0, 30.0)}
    content = photo_bytes(exif=exif)
    assert PILImage.open(io.BytesIO(content)).getexif().get_ifd(GPS_IFD)  # the upload has GPS
    image = ingest_bytes(character, content).image
    with image.file.open("rb") as handle:
        stored = handle.read()
    with PILImage.open(io.BytesIO(stored)) as picture:
        assert not picture.getexif().get_ifd(GPS_IFD)
        assert 0x010F not in picture.getexif()
    assert b"PhoneMaker" not in stored


@pytest.mark.django_db
def test_small_and_blurry_photos_are_accepted_with_warnings(character):
    blurry = PILImage.fromarray(np.full((600, 500, 3), 140, dtype=np.uint8))
    image = ingest_bytes(character, photo_bytes(picture=blurry)).image
    notes = " ".join(image.warnings)
    assert "Small: 500 × 600" in notes and "blurry" in notes


@pytest.mark.django_db
def test_png_and_webp_keep_their_format(character):
    for kind, extension in (("PNG", "png"), ("WEBP", "webp")):
        image = ingest_bytes(
            character, photo_bytes(kind=kind, seed=hash(kind) % 100), f"x.{extension}"
        ).image
        assert image.file.name.endswith(f".{extension}")


# --- The API and the worker ----------------------------------------------------------
def upload(api, character, *files):
    return api.post(f"/api/characters/{character.slug}/images", {"files": list(files)})


def test_the_api_answers_one_result_per_file_and_ingests_in_the_worker(api, character, eager_tasks):
    good = SimpleUploadedFile("good.jpg", photo_bytes(), content_type="image/jpeg")
    empty = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")
    fake = SimpleUploadedFile("fake.png", b"<html>hello</html>" * 50, content_type="image/png")
    response = upload(api, character, good, empty, fake)
    assert response.status_code == 202
    results = {r["file"]: r for r in response.json()}
    assert results["empty.jpg"]["outcome"] == "rejected"
    assert "empty" in results["empty.jpg"]["reason"]
    # The others were queued; the (eager) worker has ingested them since.
    good_now = api.get(f"/api/uploads/{results['good.jpg']['id']}").json()
    assert good_now["outcome"] == "accepted" and good_now["image_id"]
    # Its likeness was measured after, in a task of its own.
    measured = Image.objects.get(id=good_now["image_id"]).embeddings
    assert set(measured.values_list("measure", flat=True)) == {"face", "rough"}
    assert good_now["thumbnail_url"].startswith("/media/")
    fake_now = api.get(f"/api/uploads/{results['fake.png']['id']}").json()
    assert fake_now["outcome"] == "rejected" and "not a picture" in fake_now["reason"]
    assert character.images.filter(kind="upload").count() == 1
    assert not any(u.raw for u in Upload.objects.all())  # raw files are gone once ingested
    assert [p for p in stored_files() if p.startswith("uploads/")] == []

    again = upload(api, character, SimpleUploadedFile("again.jpg", photo_bytes()))
    again_now = api.get(f"/api/uploads/{again.json()[0]['id']}").json()
    assert again_now["outcome"] == "duplicate"
    assert again_now["image_id"] == good_now["image_id"]


def test_uploads_need_a_login(client, character, db):
    response = client.post(
        f"/api/characters/{character.slug}/images",
        {"files": [SimpleUploadedFile("a.jpg", b"x")]},
    )
    assert response.status_code == 401
    assert not Upload.objects.exists()


def test_an_ingested_upload_is_not_ingested_twice(api, character, eager_tasks):
    response = upload(api, character, SimpleUploadedFile("a.jpg", photo_bytes()))
    upload_id = response.json()[0]["id"]
    ingest.ingest_upload(upload_id)  # a redelivered task
    assert character.images.count() == 1


def test_uploads_show_in_the_gallery(logged_in, character, eager_tasks, api):
    upload(api, character, SimpleUploadedFile("in-gallery.jpg", photo_bytes()))
    page = logged_in.get(f"/characters/{character.slug}/gallery/?kind=upload")
    assert page.status_code == 200
    image = character.images.get()
    assert image.thumbnail.name.split("/")[-1] in page.content.decode()


def test_the_character_page_offers_uploads(logged_in, character):
    page = logged_in.get(f"/characters/{character.slug}/").content.decode()
    assert 'id="upload"' in page and 'type="file"' in page and "multiple" in page
    assert os.path.exists("static/js/upload.js")


@pytest.mark.django_db
def test_a_heic_photo_from_a_phone_is_stored_as_jpeg(character):
    from pillow_heif import register_heif_opener

    register_heif_opener()
    picture = PILImage.fromarray(np.asarray(astronaut().resize((900, 900))))
    result = ingest_bytes(character, photo_bytes(picture=picture, kind="HEIF"), "IMG_0001.HEIC")
    assert result.outcome == "accepted", result.reason
    assert result.image.file.name.endswith(".jpg")
    with result.image.file.open("rb") as handle, PILImage.open(handle) as stored:
        assert stored.format == "JPEG" and stored.size == (900, 900)
