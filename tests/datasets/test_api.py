"""The dataset endpoints of the JSON API, as a pipeline script would use them."""

import hashlib
import json
from decimal import Decimal

import pytest
from django.test import Client

from characters.models import Image
from datasets import services
from datasets.models import Dataset, DatasetExport
from generation.models import GenerationRun, ProviderCall
from tests.datasets.conftest import make_image

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def patch(client, url, data):
    return client.patch(url, json.dumps(data), content_type="application/json")


def test_creating_a_dataset_answers_its_items_and_balance_report(api, stocked):
    response = post(api, f"/api/characters/{stocked.slug}/datasets", {"name": "v1"})

    assert response.status_code == 201
    body = response.json()
    assert len(body["items"]) == 20
    item = body["items"][0]
    assert {"caption", "rendered_caption", "shot_type", "shot_source", "included"} <= set(item)
    assert item["shot_source"] == "prompt"
    assert body["balance"]["by_shot"] == {"close": 3, "mid": 3, "far": 14, "unknown": 0}
    steps = {w["code"]: w for w in body["balance"]["warnings"]}
    assert steps["low_close"]["gap"] == {"count": 3, "shot": "close", "pose": ""}
    assert steps["low_close"]["action"] == "Add 3 close-up shots."
    assert steps["high_far"]["exclude"] == {"count": 8, "shot": "far"}
    listing = api.get(f"/api/characters/{stocked.slug}/datasets").json()
    assert [d["name"] for d in listing] == ["v1"]


def test_a_taken_name_answers_409_with_a_detail(api, stocked):
    post(api, f"/api/characters/{stocked.slug}/datasets", {"name": "v1"})
    response = post(api, f"/api/characters/{stocked.slug}/datasets", {"name": "v1"})
    assert response.status_code == 409
    assert "already has a dataset" in response.json()["detail"]


def test_a_bad_template_answers_400_and_saves_nothing(api, stocked):
    response = post(
        api,
        f"/api/characters/{stocked.slug}/datasets",
        {"name": "v1", "caption_template": "{trigger}, {desc}"},
    )
    assert response.status_code == 400
    assert "Unknown placeholder {desc}" in response.json()["detail"]
    assert not Dataset.objects.exists()


def test_items_are_added_edited_and_excluded(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    extra = stocked.images.filter(review="unreviewed", kind="variation").first()

    body = post(api, f"/api/datasets/{dataset.id}/items", {"image_ids": [extra.id]}).json()
    assert len(body["items"]) == 21
    item_id = next(i["id"] for i in body["items"] if i["image_id"] == extra.id)

    response = patch(
        api,
        f"/api/dataset-items/{item_id}",
        {"caption": "pull-up,  smiling", "shot_type": "mid", "included": False},
    )
    assert response.status_code == 200
    item = response.json()
    assert item["caption"] == "pull-up, smiling"
    assert item["rendered_caption"] == "fitmannequin, pull-up, smiling"
    assert (item["shot_type"], item["shot_source"], item["included"]) == ("mid", "hand", False)
    assert "smiling" in item["concepts"]


def test_a_bad_shot_type_answers_a_client_error(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.first()
    response = patch(api, f"/api/dataset-items/{item.id}", {"shot_type": "wide"})
    assert 400 <= response.status_code < 500
    assert Image.objects.get(id=item.image_id).shot_type == "far"


def test_adding_another_characters_image_answers_400(api, stocked, character):
    dataset = services.create_dataset(character=stocked, name="v1")
    from tests.factories import CharacterFactory

    stranger = make_image(CharacterFactory())
    response = post(api, f"/api/datasets/{dataset.id}/items", {"image_ids": [stranger.id]})
    assert response.status_code == 400
    assert "is not a picture of" in response.json()["detail"]


def test_find_and_replace_counts_first_then_applies(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    url = f"/api/datasets/{dataset.id}/replace"

    preview = post(api, url, {"find": "arms relaxed", "replace": "arms loose"}).json()
    assert (preview["dry_run"], preview["items"], preview["occurrences"]) == (True, 4, 4)
    assert not dataset.items.filter(caption__contains="arms loose").exists()

    applied = post(
        api, url, {"find": "arms relaxed", "replace": "arms loose", "dry_run": False}
    ).json()
    assert applied["items"] == 4
    assert dataset.items.filter(caption__contains="arms loose").count() == 4


def test_patching_the_dataset_changes_its_template(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    response = patch(
        api, f"/api/datasets/{dataset.id}", {"caption_template": "{trigger} {shot}, {caption}"}
    )
    assert response.status_code == 200
    assert response.json()["items"][0]["rendered_caption"].startswith(
        "fitmannequin full body shot, standing facing"
    )


def test_a_caption_run_is_priced_first_then_writes_captions(
    api, stocked, settings, eager_tasks, drive, fal_key
):
    settings.LOCAL_PROVIDER_DELAY = 0
    dataset = services.create_dataset(character=stocked, name="v1")
    url = f"/api/datasets/{dataset.id}/captions"

    priced = post(api, url, {"provider": "fal", "dry_run": True}).json()
    assert (priced["kind"], priced["call_count"]) == ("captions", 6)
    assert Decimal(priced["estimated_cost"]) == Decimal("0.006")
    assert not GenerationRun.objects.exists()

    response = post(api, url, {"provider": "local"})
    assert response.status_code == 201
    run = drive(GenerationRun.objects.get(id=response.json()["id"]))
    assert run.status == "succeeded"
    uploads = dataset.items.filter(image__kind="upload")
    assert not uploads.filter(caption="").exists()
    assert uploads.first().caption.endswith("plain background")
    assert "plain_background" in uploads.first().concepts
    assert all(c.context["purpose"] == "caption" for c in ProviderCall.objects.filter(run=run))
    again = post(api, url, {"provider": "local", "dry_run": True})
    assert again.status_code == 400
    assert "already has a caption" in again.json()["detail"]


def test_a_caption_run_through_fal_uses_the_fake_and_cleans_the_text(
    api, stocked, fal, eager_tasks, drive
):
    dataset = services.create_dataset(character=stocked, name="v1")
    response = post(api, f"/api/datasets/{dataset.id}/captions", {"provider": "fal"})
    run = drive(GenerationRun.objects.get(id=response.json()["id"]))

    assert run.status == "succeeded", run.error
    caption = dataset.items.filter(image__kind="upload").first().caption
    assert caption.startswith("a person standing in soft light")
    assert Image.objects.filter(kind="upload", caption=caption).exists()


def test_fill_the_gap_prices_a_variations_run_from_the_closest_anchor(api, stocked, fal_key):
    dataset = services.create_dataset(character=stocked, name="v1")

    response = post(
        api,
        f"/api/datasets/{dataset.id}/fill-gap",
        {"shot": "close", "count": 5, "provider": "fal", "dry_run": True},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["images"]) == ("variations", 5)
    assert Decimal(body["estimated_cost"]) == Decimal("0.15")  # 5 × $0.03 image-to-image
    assert body["gap"]["prompt"].startswith("close-up portrait")
    assert not stocked.variations.filter(label__startswith="Fill the gap").exists()
    assert not GenerationRun.objects.exists()


def test_filling_a_gap_without_anchors_says_to_pick_them_first(api, character):
    make_image(character, shot="close", review="approved")
    dataset = services.create_dataset(character=character, name="v1")
    response = post(api, f"/api/datasets/{dataset.id}/fill-gap", {"shot": "far", "dry_run": True})
    assert response.status_code == 400
    assert "Pick the character's anchors first" in response.json()["detail"]


def test_an_export_is_built_by_the_worker_and_downloaded_through_a_signed_link(
    api, stocked, eager_tasks
):
    dataset = services.create_dataset(character=stocked, name="v1")

    response = post(api, f"/api/datasets/{dataset.id}/exports", {"accept_warnings": True})
    assert response.status_code == 202
    export_id = response.json()["id"]
    body = api.get(f"/api/exports/{export_id}").json()
    assert body["status"] == "ready", body["error"]
    assert body["image_count"] == 20
    assert len(body["sha256"]) == 64

    download = Client().get(body["download_url"])  # no session, no token: the link suffices
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == body["sha256"]
    listing = api.get(f"/api/datasets/{dataset.id}/exports").json()
    assert [e["id"] for e in listing] == [export_id]


def test_an_export_refused_for_captions_answers_400_with_the_problems(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1", caption_template="{caption}")
    response = post(api, f"/api/datasets/{dataset.id}/exports", {})
    assert response.status_code == 400
    assert len(response.json()["problems"]) == 20
    assert not DatasetExport.objects.exists()


def test_an_unknown_export_answers_404(api):
    assert api.get("/api/exports/not-a-uuid").status_code == 404
    assert api.get("/api/exports/6f1c1d5e-0000-4000-8000-000000000000").status_code == 404


def test_the_dataset_endpoints_need_a_token(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    assert Client().get(f"/api/datasets/{dataset.id}").status_code == 401


def test_filling_a_gap_makes_new_variations_of_the_missing_shot_type(
    api, stocked, settings, eager_tasks, drive
):
    settings.LOCAL_PROVIDER_DELAY = 0
    dataset = services.create_dataset(character=stocked, name="v1")

    response = post(api, f"/api/datasets/{dataset.id}/fill-gap", {"shot": "close", "count": 3})
    assert response.status_code == 201
    run = drive(GenerationRun.objects.get(id=response.json()["id"]))

    assert run.status == "succeeded"
    made = Image.objects.filter(call__run=run)
    assert made.count() == 3
    assert all(image.prompt.startswith("close-up portrait") for image in made)
    assert {image.shot_type for image in made} == {"close"}
    assert made.first().review == "unreviewed"  # a person still approves them


def test_a_gap_of_a_pose_is_filled_from_that_poses_anchor(api, stocked, fal_key):
    dataset = services.create_dataset(character=stocked, name="v1")
    response = post(
        api,
        f"/api/datasets/{dataset.id}/fill-gap",
        {"pose": "seated", "count": 2, "provider": "fal", "dry_run": True},
    )
    assert response.status_code == 200
    assert response.json()["gap"]["anchor_pose"] == "seated"
    unknown = post(api, f"/api/datasets/{dataset.id}/fill-gap", {"pose": "flying", "dry_run": True})
    assert unknown.status_code == 400 and "has no pose" in unknown.json()["detail"]


def test_the_openapi_schema_lists_the_dataset_endpoints(logged_in):
    paths = logged_in.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/characters/{slug}/datasets",
        "/api/datasets/{dataset_id}",
        "/api/datasets/{dataset_id}/items",
        "/api/dataset-items/{item_id}",
        "/api/datasets/{dataset_id}/exports",
        "/api/exports/{export_id}",
    ):
        assert path in paths, path


def test_a_caption_run_on_a_provider_without_its_key_is_refused_before_anything_is_saved(
    api, stocked, settings
):
    settings.FAL_KEY = ""
    dataset = services.create_dataset(character=stocked, name="v1")
    response = post(api, f"/api/datasets/{dataset.id}/captions", {"provider": "fal"})
    assert response.status_code == 400
    assert "FAL_KEY is not set" in response.json()["detail"]
    assert not GenerationRun.objects.exists()


@pytest.mark.parametrize("path", ["captions", "fill-gap"])
def test_a_caption_or_gap_run_sent_again_with_its_idempotency_key_starts_once(api, stocked, path):
    dataset = services.create_dataset(character=stocked, name="v1")
    body = {"provider": "local"} | ({"shot": "close", "count": 3} if path == "fill-gap" else {})

    def send():
        return api.post(
            f"/api/datasets/{dataset.id}/{path}",
            json.dumps(body),
            content_type="application/json",
            headers={"Idempotency-Key": f"{path}-1"},
        )

    first, again = send(), send()
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert GenerationRun.objects.count() == 1
