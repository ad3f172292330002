"""Uploads enter a dataset only once approved, like generated images; what ingest noticed
stays on the image as amber badges."""

import pytest

from characters.models import Image
from datasets import services
from tests.datasets.conftest import make_image

pytestmark = pytest.mark.django_db


def test_a_new_dataset_leaves_out_uploads_no_one_approved(stocked):
    waiting = make_image(stocked, shot="close")  # unreviewed

    dataset = services.create_dataset(character=stocked, name="v1")

    assert not dataset.items.filter(image=waiting).exists()
    assert dataset.items.filter(image__kind="upload").count() == 6  # the approved ones


def test_an_approved_upload_is_offered_to_an_existing_dataset(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    upload = make_image(stocked, shot="mid")
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert "approved image of Fit is not in this dataset yet" not in page

    Image.objects.filter(id=upload.id).update(review=Image.Review.APPROVED)
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert "1 approved image of Fit is not in this dataset yet" in page


def test_the_datasets_page_says_how_many_uploads_await_review(logged_in, stocked):
    make_image(stocked, shot="mid")
    make_image(stocked, shot="far")
    page = logged_in.get(f"/datasets/for/{stocked.slug}/").content.decode()
    assert "Starts with 20 images" in page
    assert "2 uploads await review" in page
    assert "?kind=upload&amp;review=unreviewed" in page


def test_ingest_notes_show_as_amber_badges_on_gallery_and_dataset_tiles(logged_in, stocked):
    note = "Looks blurry: a sharper photo of this pose will train better."
    upload = make_image(
        stocked, shot="mid", review=Image.Review.APPROVED, warnings=[note, "Small: 300 × 200."]
    )
    dataset = services.create_dataset(character=stocked, name="v1")
    assert dataset.items.filter(image=upload).exists()

    gallery = logged_in.get(f"/characters/{stocked.slug}/gallery/?kind=upload").content.decode()
    dataset_page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    for page in (gallery, dataset_page):
        assert f'<span class="badge warn" title="{note}">blurry</span>' in page
        assert '<span class="badge warn" title="Small: 300 × 200.">small</span>' in page


def test_an_upload_result_carries_its_warnings_and_its_review(api, character, eager_tasks):
    from tests.datasets.test_ingest import photo_bytes

    small = photo_bytes(seed=3, size=(200, 150))
    response = api.post(
        f"/api/characters/{character.slug}/images",
        {"files": [_file("small.jpg", small)]},
    )
    assert response.status_code == 202
    result = api.get(f"/api/uploads/{response.json()[0]['id']}").json()
    assert result["outcome"] == "accepted"
    assert result["review"] == "unreviewed"
    assert any(w.startswith("Small") for w in result["warnings"])


def _file(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="image/jpeg")
