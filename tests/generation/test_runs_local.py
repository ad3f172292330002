"""Runs on the offline simulator, driven through the public services and the API."""

import json
from decimal import Decimal

import pytest

from characters.models import Image
from generation import calls, runs
from generation.models import GenerationRun, ProviderCall
from tests.factories import AnchorFactory

pytestmark = pytest.mark.django_db
Status = ProviderCall.Status


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_a_dry_run_prices_the_calls_and_spends_nothing(api, character, settings):
    settings.FAL_KEY = "fal-key"  # pricing needs no request, but fal is refused without a key
    response = post(
        api,
        f"/api/characters/{character.slug}/runs",
        {"kind": "anchors", "provider": "fal", "dry_run": True},
    )
    assert response.status_code == 200
    body = response.json()
    # 8 poses × 10 candidates, at most 4 images per fal call: 3 calls (4+4+2) per pose.
    assert (body["images"], body["call_count"]) == (80, 24)
    assert Decimal(body["estimated_cost"]) == Decimal("4.80")
    assert not GenerationRun.objects.exists()
    assert not ProviderCall.objects.exists()


def test_anchor_candidates_from_the_simulator_become_images(
    character, user, settings, eager_tasks, drive
):
    settings.LOCAL_PROVIDER_DELAY = 0
    plan = runs.plan_run(character=character, kind="anchors", poses=["front", "hanging"], count=3)
    run = runs.launch_run(plan=plan, character=character, created_by=user, params={})
    run = drive(run)
    assert run.status == GenerationRun.Status.SUCCEEDED
    images = Image.objects.filter(character=character, kind=Image.Kind.CANDIDATE)
    assert images.count() == 6
    assert set(images.values_list("pose__key", flat=True)) == {"front", "hanging"}
    image = images.first()
    assert image.call.status == Status.DONE
    assert image.thumbnail and image.width == 512 and image.seed is not None
    assert "cream background" in image.prompt
    assert run.actual_cost == Decimal("0")
    # Each downloaded picture was measured for likeness by its own task (a drawing: no face).
    assert {e.measure for e in image.embeddings.all()} == {"face", "rough"}
    assert image.embeddings.get(measure="face").flag == "no_face"


def test_variations_are_edited_from_the_anchor_of_their_pose(
    character, user, settings, eager_tasks, drive
):
    settings.LOCAL_PROVIDER_DELAY = 0
    anchor = AnchorFactory(character=character, pose=character.poses.get(key="hanging"))
    plan = runs.plan_run(character=character, kind="variations", variations=["pullup_top"])
    run = drive(runs.launch_run(plan=plan, character=character, created_by=user, params={}))
    images = Image.objects.filter(kind=Image.Kind.VARIATION)
    spec = character.variations.get(key="pullup_top")
    assert images.count() == spec.count
    assert {i.source_image_id for i in images} == {anchor.image_id}
    assert {i.strength for i in images} == {spec.strength}
    assert run.status == GenerationRun.Status.SUCCEEDED


def test_a_variation_whose_anchor_is_missing_is_refused_with_the_pose_named(api, character):
    response = post(
        api,
        f"/api/characters/{character.slug}/runs",
        {"kind": "variations", "variations": ["pullup_top", "barbell_row"]},
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Hanging" in detail and "Bent" in detail
    assert not GenerationRun.objects.exists()


def test_the_api_launches_a_run_and_reports_its_calls(api, character, settings, eager_tasks):
    settings.LOCAL_PROVIDER_DELAY = 30  # stays in flight for the assertions below
    response = post(
        api,
        f"/api/characters/{character.slug}/runs",
        {"kind": "anchors", "poses": ["front"], "count": 2},
    )
    assert response.status_code == 201
    run_id = response.json()["id"]
    body = api.get(f"/api/runs/{run_id}").json()
    assert body["status"] == "running"
    assert body["calls_by_status"] == {"submitted": 1}
    assert body["calls"][0]["external_id"].startswith("sim-")


def test_canceling_a_run_cancels_queued_and_in_flight_calls(api, character, settings, eager_tasks):
    settings.LOCAL_PROVIDER_DELAY = 30
    settings.PROVIDER_CONCURRENCY = {"local": 2}
    response = post(api, f"/api/characters/{character.slug}/runs", {"kind": "anchors", "count": 1})
    run_id = response.json()["id"]
    by_status = api.get(f"/api/runs/{run_id}").json()["calls_by_status"]
    assert by_status == {"submitted": 2, "created": 6}
    response = post(api, f"/api/runs/{run_id}/cancel", {})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "canceled"
    assert body["calls_by_status"] == {"canceled": 8}


def test_a_failed_call_says_why_on_the_call_and_the_run(
    character, user, settings, eager_tasks, drive
):
    settings.LOCAL_PROVIDER_DELAY = 0
    character.base_prompt += ", simulate:fail"
    character.save()
    plan = runs.plan_run(character=character, kind="anchors", poses=["front"], count=1)
    run = drive(runs.launch_run(plan=plan, character=character, created_by=user, params={}))
    assert run.status == GenerationRun.Status.FAILED
    assert "1 of 1 calls failed: The simulator was asked to fail" in run.error
    assert run.calls.get().actual_cost == Decimal("0")


def test_concurrency_cap_keeps_at_most_n_calls_at_the_provider(
    character, user, settings, eager_tasks
):
    settings.LOCAL_PROVIDER_DELAY = 30
    settings.PROVIDER_CONCURRENCY = {"local": 3}
    plan = runs.plan_run(character=character, kind="anchors", count=1)
    run = runs.launch_run(plan=plan, character=character, created_by=user, params={})
    for _ in range(3):
        calls.sweep()
    at_provider = run.calls.filter(status__in=ProviderCall.AT_PROVIDER).count()
    assert at_provider == 3
    assert run.calls.filter(status=Status.CREATED).count() == 5


def test_canceling_a_big_queue_does_not_take_a_query_per_call(
    character, user, settings, eager_tasks, django_assert_max_num_queries
):
    settings.LOCAL_PROVIDER_DELAY = 30
    settings.PROVIDER_CONCURRENCY = {"local": 2}
    plan = runs.plan_run(character=character, kind="anchors", count=10)  # 24 calls
    run = runs.launch_run(plan=plan, character=character, created_by=user, params={})
    assert run.calls.filter(status=ProviderCall.Status.CREATED).count() == 22
    with django_assert_max_num_queries(60):  # one by one it took over 250
        runs.cancel_run(run)
    assert set(run.calls.values_list("status", flat=True)) == {ProviderCall.Status.CANCELED}
    assert run.calls.filter(actual_cost=0).count() == 24


def test_generated_images_get_a_shot_type_from_their_prompt_when_no_face_shows(
    character, user, eager_tasks, drive
):
    from characters.models import ShotSource

    plan = runs.plan_run(
        character=character, kind="anchors", provider="local", poses=["front"], count=1
    )
    # A seed whose drawing shows no face (in about one of seven the detector sees a tiny one).
    plan.calls[0].inputs["seed"] = 1
    run = drive(runs.launch_run(plan=plan, character=character, created_by=user, params={}))
    image = run.calls.get().images.get()
    assert image.shot_source == ShotSource.PROMPT  # a mannequin has no face
    assert image.shot_type == "far"  # an anchor pose is a full figure
