"""Identity in a dataset: the balance report's spread and outliers, one-click exclusion,
and every image's scores in the export's metadata.json."""

import json
import zipfile

import pytest
from django.urls import reverse

from characters.likeness import calibration, scoring
from characters.models import Image
from datasets import exports, services
from datasets.balance import balance_report
from datasets.models import Dataset
from tests.factories import CharacterFactory, ImageFactory, photo_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed():
    """Uploads: four of the astronaut, one of Grace Hopper, a coffee cup; all measured and
    approved, as uploads enter a dataset only once approved."""
    character = CharacterFactory(trigger_word="astro_one")
    changes = [None, "mirror", "grey", "rotated 15°"]
    images = {
        f"astronaut {n}": ImageFactory(
            character=character,
            review=Image.Review.APPROVED,
            file=photo_file(
                calibration.changes("astronaut").get(c, lambda x: x)(calibration.photo("astronaut"))
            ),
        )
        for n, c in enumerate(changes)
    }
    images["grace"] = ImageFactory(
        character=character,
        review=Image.Review.APPROVED,
        file=photo_file(calibration.photo("grace_hopper")),
    )
    images["cup"] = ImageFactory(
        character=character,
        review=Image.Review.APPROVED,
        file=photo_file(calibration.photo("coffee")),
    )
    for image in images.values():
        scoring.measure_image(image_id=image.id)
    dataset = services.create_dataset(character=character, name="Mixed", created_by=None)
    return dataset, images


def items_of(dataset):
    from datasets.selectors import dataset_items

    return list(dataset_items(dataset))


def test_the_report_lists_exactly_the_foreign_person_and_the_cup_as_outliers(mixed):
    dataset, images = mixed
    identity = balance_report(dataset, items_of(dataset)).identity
    flagged = {o.image_id: o.flag for o in identity.outliers}
    assert flagged == {images["grace"].id: "other_person", images["cup"].id: "no_face"}
    assert identity.measure == "face" and identity.reference == "consensus"
    assert identity.measured == 6 and identity.unmeasured == 0
    assert identity.median_distance < 0.45 < identity.max_distance
    codes = [w.code for w in balance_report(dataset, items_of(dataset)).warnings]
    assert "identity_outliers" in codes


def test_one_click_excludes_every_outlier_and_nothing_else(logged_in, mixed):
    dataset, images = mixed
    page = logged_in.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert "Exclude these 2" in page
    assert "Other person?" in page and "No face" in page  # the tiles' badges
    outliers = [o.item_id for o in balance_report(dataset, items_of(dataset)).identity.outliers]
    response = logged_in.post(
        reverse("datasets:exclude_outliers", args=[dataset.id]), {"item": outliers}
    )
    assert response.status_code == 302
    excluded = set(dataset.items.filter(included=False).values_list("image_id", flat=True))
    assert excluded == {images["grace"].id, images["cup"].id}
    identity = balance_report(dataset, items_of(dataset)).identity
    assert identity.outliers == []


def test_items_of_another_dataset_are_not_excluded(logged_in, mixed):
    dataset, _ = mixed
    other = Dataset.objects.create(character=dataset.character, name="Other")
    response = logged_in.post(
        reverse("datasets:exclude_outliers", args=[other.id]),
        {"item": list(dataset.items.values_list("id", flat=True))},
    )
    assert response.status_code == 302
    assert not dataset.items.filter(included=False).exists()


def test_excluding_nothing_is_refused_with_a_message(logged_in, mixed):
    dataset, _ = mixed
    response = logged_in.post(
        reverse("datasets:exclude_outliers", args=[dataset.id]), {}, follow=True
    )
    assert "Choose the images to exclude." in response.content.decode()
    assert not dataset.items.filter(included=False).exists()


def test_the_export_metadata_carries_every_images_scores(mixed):
    dataset, images = mixed
    dataset.items.filter(image=images["cup"]).update(caption="a cup")
    services.exclude_items(
        dataset=dataset,
        item_ids=list(dataset.items.filter(image=images["cup"]).values_list("id", flat=True)),
    )
    # The uploads have no captions or shot types: warnings this test is not about.
    export = exports.start_export(dataset=dataset, enqueue=False, accept_warnings=True)
    export = exports.build_export(export.id)
    with export.archive.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        metadata = json.loads(archive.read("metadata.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert len(metadata["likeness"]) == 5
    by_image = {e["image_id"]: e["likeness"] for e in manifest["images"]}
    grace = by_image[images["grace"].id][0]
    assert grace["primary"] and grace["measure"] == "face" and grace["flag"] == "other_person"
    assert grace["model"] == "dlib_face_recognition_resnet_model_v1"
    assert grace["reference"] == "consensus" and grace["distance"] > 0.6


def test_the_api_balance_carries_identity_and_items_their_likeness(api, mixed):
    dataset, images = mixed
    body = api.get(f"/api/datasets/{dataset.id}").json()
    assert {o["image_id"] for o in body["balance"]["identity"]["outliers"]} == {
        images["grace"].id,
        images["cup"].id,
    }
    item = next(i for i in body["items"] if i["image_id"] == images["grace"].id)
    assert item["likeness"]["flag"] == "other_person"
