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
from tests.factories import AnchorFactory, CharacterFactory, ImageFactory, photo_file

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


# --- The reference is never an outlier; the rough measure offers nothing in bulk ----------
def _score(image, *, distance, measure="rough", reference="sheet", flag="drift"):
    from characters.likeness import measure_named
    from characters.likeness.base import score_for
    from characters.models import LikenessScore

    LikenessScore.objects.create(
        image=image,
        measure=measure,
        model=measure_named(measure).model,
        reference=reference,
        reference_key="test",
        distance=distance,
        score=score_for(measure_named(measure), distance),
        flag=flag,
        primary=True,
    )


@pytest.fixture
def rough_set():
    """4 anchors without a face and 13 approved variations, every one scored by the rough
    measure against the sheet and "drifting" (as real pictures of different poses do), one
    variation far beyond the rest. Returns (dataset, anchors, variations, the far one)."""
    character = CharacterFactory(trigger_word="roughone")
    anchors = [AnchorFactory(character=character).image for _ in range(4)]
    variations = [
        ImageFactory(character=character, kind=Image.Kind.VARIATION, review="approved")
        for _ in range(13)
    ]
    for n, image in enumerate(anchors):
        _score(image, distance=0.70 + n * 0.05)  # the anchors, far from each other
    for n, image in enumerate(variations[:-1]):
        _score(image, distance=0.60 + (n % 5) * 0.02)
    far = variations[-1]
    _score(far, distance=1.10)
    dataset = services.create_dataset(character=character, name="Rough", created_by=None)
    return dataset, anchors, variations, far


def _exclude_forms(page: str) -> list[list[str]]:
    """The item ids each exclude form of the Identity section would post."""
    import re

    section = page[page.index('id="identity"') :]
    section = section[: section.index("</div>")]
    forms = re.findall(r"<form[^>]*exclude[^>]*>(.*?)</form>", section, re.S)
    return [re.findall(r'name="item" value="(\d+)"', form) for form in forms]


def test_under_the_rough_measure_anchors_are_never_offered_for_exclusion(logged_in, rough_set):
    dataset, anchors, variations, far = rough_set
    assert dataset.items.count() == 17
    page = logged_in.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    anchor_items = {
        str(i) for i in dataset.items.filter(image__in=anchors).values_list("id", flat=True)
    }
    offered = {item for form in _exclude_forms(page) for item in form}
    assert not offered & anchor_items
    assert "Exclude these" not in page and "Exclude it" not in page
    assert "The rough measure compares colour and shape only" in page
    assert "4 of them the reference (anchors or pin), never listed as outliers" in page
    # Only the one image that stands apart from the set's own spread, with its own button.
    far_item = dataset.items.get(image=far).id
    assert _exclude_forms(page) == [[str(far_item)]]
    assert "stands apart from the rest of the set in colour and shape" in page

    report = balance_report(dataset, items_of(dataset))
    assert [o.image_id for o in report.identity.outliers] == [far.id]
    assert not report.identity.bulk_exclude and report.identity.reference_images == 4
    codes = {w.code: w for w in report.warnings}
    assert "identity_outliers" not in codes
    assert codes["identity_stand_apart"].level == "info"


def test_under_the_rough_measure_a_set_that_drifts_evenly_lists_nothing(logged_in, rough_set):
    dataset, _, _, far = rough_set
    far.likeness_scores.update(distance=0.62)
    page = logged_in.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert _exclude_forms(page) == []
    assert "No image stands apart from the rest of this set." in page
    assert "Every measured image looks like the character." not in page  # rough: no verdict
    codes = [w.code for w in balance_report(dataset, items_of(dataset)).warnings]
    assert "identity_outliers" not in codes and "identity_stand_apart" not in codes


def test_under_the_face_measure_a_drifting_anchor_is_not_an_outlier_a_variation_is(
    logged_in, rough_set
):
    dataset, anchors, variations, _ = rough_set
    from characters.models import LikenessScore

    LikenessScore.objects.update(measure="face", model="dlib_face_recognition_resnet_model_v1")
    LikenessScore.objects.exclude(image__in=[anchors[0], variations[0]]).update(
        distance=0.3, flag="ok"
    )
    LikenessScore.objects.filter(image__in=[anchors[0], variations[0]]).update(
        distance=0.5, flag="drift"
    )
    page = logged_in.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    variation_item = str(dataset.items.get(image=variations[0]).id)
    assert _exclude_forms(page) == [[variation_item], [variation_item]]  # its own, and "all"
    assert "Exclude it" in page and "The rough measure" not in page


def test_the_pins_images_are_the_reference_and_never_outliers(logged_in, rough_set):
    from training.models import Pin

    dataset, _, variations, far = rough_set
    Pin.objects.create(character=dataset.character, version=1, primary_image=far)
    report = balance_report(dataset, items_of(dataset))
    assert report.identity.outliers == [] and report.identity.reference_images == 5
    page = logged_in.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert _exclude_forms(page) == []


def test_the_api_says_when_no_bulk_exclusion_is_offered(api, rough_set):
    dataset, _, _, far = rough_set
    identity = api.get(f"/api/datasets/{dataset.id}").json()["balance"]["identity"]
    assert identity["measure"] == "rough" and identity["bulk_exclude"] is False
    assert identity["reference_images"] == 4
    assert [o["image_id"] for o in identity["outliers"]] == [far.id]
