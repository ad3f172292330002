"""Images added to a dataset later are captioned as at creation; the caption check offers a
captioning run for any kind of image; an export warns before shipping what trains badly."""

import pytest

from characters.models import Image
from datasets import captioning, exports, services
from datasets.models import DatasetExport
from generation.models import GenerationRun
from tests.confirm_pages import start
from tests.datasets.conftest import make_image

pytestmark = pytest.mark.django_db

GAP_PROMPT = "close-up portrait, head and shoulders filling the frame, orange mannequin"


def test_a_batch_added_later_with_one_prompt_keeps_its_captions(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    front = stocked.poses.get(key="front")
    batch = [
        make_image(stocked, kind=Image.Kind.VARIATION, pose=front, prompt=GAP_PROMPT)
        for _ in range(4)
    ]

    services.add_images(dataset=dataset, image_ids=[i.id for i in batch])

    added = dataset.items.filter(image__in=batch)
    assert {item.caption for item in added} == {
        "close-up portrait, head and shoulders filling the frame"
    }


def test_caption_these_prices_a_run_for_every_uncaptioned_image_of_any_kind(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    variation = dataset.items.filter(image__kind="variation").first()
    services.update_item(item=variation, caption="")
    uploads = dataset.items.filter(image__kind="upload", caption="").count()

    plan = captioning.plan_captions(dataset=dataset, provider="local", scope="uncaptioned")

    targets = {c.image["dataset_item_id"] for c in plan.calls}
    assert variation.id in targets
    assert len(targets) == uploads + 1
    only_uploads = captioning.plan_captions(dataset=dataset, provider="local")
    assert variation.id not in {c.image["dataset_item_id"] for c in only_uploads.calls}


def test_the_caption_check_offers_caption_these_and_launches_it(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    empty = dataset.items.filter(caption="").count()
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert f"Caption these {empty}…" in page
    assert 'name="scope" value="uncaptioned"' in page

    url = f"/datasets/{dataset.id}/captions/"
    started = start(logged_in, url, {"provider": "local", "scope": "uncaptioned"})
    assert started.status_code == 302
    run = GenerationRun.objects.get()
    assert run.params["scope"] == "uncaptioned" and run.calls.count() == empty


def test_an_export_with_empty_captions_and_unknown_shots_waits_for_a_tick(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.filter(image__kind="variation").first()
    Image.objects.filter(id=item.image_id).update(shot_type="unknown", shot_source="")

    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert "Before you export" in page
    assert "have no caption" in page and "has no shot type" in page
    assert 'name="accept_warnings" required' in page

    refused = logged_in.post(f"/datasets/{dataset.id}/exports/new/", {"resolution": "512"})
    assert refused.status_code == 302
    assert not DatasetExport.objects.exists()

    logged_in.post(
        f"/datasets/{dataset.id}/exports/new/", {"resolution": "512", "accept_warnings": "on"}
    )
    export = DatasetExport.objects.get()
    assert any("no shot type" in w for w in export.manifest["accepted_warnings"])


def test_the_api_reports_export_warnings_and_takes_accept_warnings(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    url = f"/api/datasets/{dataset.id}/exports"

    refused = api.post(url, {}, content_type="application/json")
    assert refused.status_code == 400
    codes = {w["code"] for w in refused.json()["warnings"]}
    assert codes == {"empty_captions"}  # the uploads wait for captioning
    assert not DatasetExport.objects.exists()

    accepted = api.post(url, {"accept_warnings": True}, content_type="application/json")
    assert accepted.status_code == 202


def test_a_fully_captioned_dataset_exports_without_a_tick(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    for item in dataset.items.filter(caption=""):
        services.update_item(item=item, caption="standing by a window")
    export = exports.start_export(dataset=dataset, enqueue=False)
    assert export.manifest["accepted_warnings"] == []
