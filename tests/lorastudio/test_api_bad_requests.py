"""Malformed requests to the API answer JSON 4xx naming the problem, never HTML or a 500."""

import io
import json

import pytest

from tests.datasets.test_ingest import photo_bytes
from tests.factories import DatasetFactory, ImageFactory, ReadyExportFactory

pytestmark = pytest.mark.django_db


def test_more_files_than_allowed_in_one_upload_is_a_json_400(api, character, settings):
    files = [io.BytesIO(b"x") for _ in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)]
    for n, handle in enumerate(files):
        handle.name = f"p{n}.jpg"
    response = api.post(f"/api/characters/{character.slug}/images", {"files": files})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "at most 100 files" in response.json()["detail"]
    assert not character.images.exists()


def test_a_multipart_body_without_a_boundary_is_a_json_400(api, character):
    response = api.generic(
        "POST",
        f"/api/characters/{character.slug}/images",
        data=b"--x\r\nContent-Disposition: form-data; name=files\r\n\r\nabc\r\n--x--\r\n",
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "boundary" in response.json()["detail"]


def test_a_good_upload_still_goes_through(api, character):
    handle = io.BytesIO(photo_bytes(seed=1))
    handle.name = "one.jpg"
    response = api.post(f"/api/characters/{character.slug}/images", {"files": [handle]})
    assert response.status_code == 202


def test_pin_roles_with_a_key_that_is_not_an_image_id_is_a_400(api, character):
    image = ImageFactory(character=character, kind="reference")
    body = {
        "primary_image_id": image.id,
        "reference_image_ids": [image.id],
        "roles": {"front": "side"},
    }
    response = api.put(
        f"/api/characters/{character.slug}/pin", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert "reference image ids" in response.json()["detail"]


@pytest.mark.parametrize("resolution", ["²", "١٠٢٤", "1024,٧٦٨", "１０２４"])
def test_a_training_resolution_in_other_digits_is_refused(api, character, resolution):
    export = ReadyExportFactory(dataset=DatasetFactory(character=character))
    body = {"export_id": str(export.id), "provider": "local", "resolution": resolution}
    response = api.post("/api/training-jobs", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert "Resolutions are pixel sizes" in response.json()["detail"]
