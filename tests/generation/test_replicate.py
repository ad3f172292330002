"""The Replicate adapter, through the real replicate SDK, against a fake of Replicate's API."""

from decimal import Decimal

import pytest

from characters.models import Image
from generation import runs
from generation.models import GenerationRun, ProviderCall
from tests.factories import AnchorFactory

ULTRA = "black-forest-labs/flux-1.1-pro-ultra"
DEV = "black-forest-labs/flux-dev"
Status = ProviderCall.Status
pytestmark = pytest.mark.usefixtures("eager_tasks")


def launch(character, user, **kwargs):
    kwargs.setdefault("kind", "anchors")
    plan = runs.plan_run(character=character, provider="replicate", **kwargs)
    return runs.launch_run(plan=plan, character=character, created_by=user, params={})


def test_anchor_candidates_on_replicate_one_prediction_per_image(
    replicate_fake, character, user, drive
):
    replicate_fake.script(ULTRA, starting_polls=1, processing_polls=1, logs=["50%"])
    run = drive(launch(character, user, poses=["front"], count=3))
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert (
        len(replicate_fake.requests.creates(ULTRA)) == 3
    )  # the ultra model makes one image a call
    assert Image.objects.filter(call__run=run).count() == 3
    assert run.actual_cost == Decimal("0.18")


def test_variations_send_the_anchor_as_a_signed_link_with_the_strength(
    replicate_fake, character, user, drive, settings
):
    settings.PUBLIC_BASE_URL = "https://studio.example"
    AnchorFactory(character=character, pose=character.poses.get(key="hanging"))
    run = drive(launch(character, user, kind="variations", variations=["pullup_top"]))
    assert run.status == GenerationRun.Status.SUCCEEDED
    call = run.calls.first()
    assert call.endpoint == DEV
    assert call.request["image"].startswith("https://studio.example/media/")
    assert "sig=" in call.request["image"]
    assert call.request["prompt_strength"] == 0.55
    spec = character.variations.get(key="pullup_top")
    assert Image.objects.filter(variation=spec).count() == spec.count


def test_a_429_on_create_is_retried_and_the_prediction_made_once(
    replicate_fake, character, user, drive
):
    replicate_fake.fail_next_creates(429, times=1)
    run = drive(launch(character, user, poses=["front"], count=1))
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert run.calls.get().attempts == 1
    assert replicate_fake.requests.creates_per_model() == {ULTRA: 1}


def test_a_failed_prediction_fails_its_call_with_replicates_error(
    replicate_fake, character, user, drive
):
    replicate_fake.prediction_failure(ULTRA, "NSFW content detected")
    run = drive(launch(character, user, poses=["front"], count=1))
    call = run.calls.get()
    assert call.status == Status.FAILED
    assert "NSFW content detected" in call.error


def test_canceling_cancels_the_prediction_at_replicate(replicate_fake, character, user):
    replicate_fake.script(ULTRA, starting_polls=50)
    run = launch(character, user, poses=["front"], count=1)
    call = run.calls.get()
    runs.cancel_run(run)
    call.refresh_from_db()
    assert call.status == Status.CANCELED
    assert len(replicate_fake.requests.cancels(call.external_id)) == 1


def test_expired_outputs_fail_the_call_and_say_so(replicate_fake, character, user, drive):
    run = launch(character, user, poses=["front"], count=1)
    replicate_fake.complete(run.calls.get().external_id)
    replicate_fake.expire_outputs()  # an hour went by before we fetched them
    run = drive(run)
    call = run.calls.get()
    assert call.status == Status.FAILED
    assert "no longer serves this result" in call.error


def test_a_signed_webhook_finishes_the_call_and_a_replayed_one_is_refused(
    replicate_fake, character, user, client
):
    run = launch(character, user, poses=["front"], count=1)
    call = run.calls.get()
    replicate_fake.complete(call.external_id)
    headers, body = replicate_fake.signed_webhook(call.external_id)
    response = client.post(
        "/webhooks/replicate", body, content_type="application/json", headers=headers
    )
    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == Status.DONE
    old_headers, old_body = replicate_fake.signed_webhook(call.external_id, timestamp=1_000_000)
    response = client.post(
        "/webhooks/replicate", old_body, content_type="application/json", headers=old_headers
    )
    assert response.status_code == 401
