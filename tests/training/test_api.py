"""The training, LoRA, pin and webhook endpoints, as ARCHITECTURE.md lists them."""

import json
import time
from decimal import Decimal

import pytest
from django.test import Client

from characters.models import Image
from tests.factories import ImageFactory
from tests.training.versions import lora_version, reference_set
from training import services
from training.models import LoraModel, Pin, TrainingJob, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def post(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


@pytest.fixture
def trained(export, user, settings, eager_tasks, finish):
    """A finished simulator training: LoRA v1 of the fitness character."""
    settings.LOCAL_PROVIDER_DELAY = 0
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local"), created_by=user
    )
    return finish(job).lora


def test_a_dry_run_gives_the_settings_price_and_time_and_saves_nothing(api, export, settings):
    settings.FAL_KEY = "key"
    response = post(
        api, "/api/training-jobs", {"export_id": str(export.id), "provider": "fal", "dry_run": True}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["steps"] == 1000 and body["preset"] == "fashion"
    assert Decimal(body["estimated_cost"]) == Decimal("2.0")
    assert body["estimated_seconds"] == 900 and "per step" in body["price"]
    assert not TrainingJob.objects.exists()


def test_starting_a_training_answers_201_with_the_job(api, export):
    response = post(
        api,
        "/api/training-jobs",
        {"export_id": str(export.id), "provider": "local", "steps": 1200, "rank": 8},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["steps"], body["rank"]) == ("queued", 1200, 8)
    assert body["export_id"] == str(export.id) and body["character"] == "fit"
    listed = api.get("/api/training-jobs").json()
    assert [j["id"] for j in listed["items"]] == [body["id"]] and listed["count"] == 1
    assert api.get(f"/api/training-jobs/{body['id']}").json()["id"] == body["id"]


def test_a_provider_without_a_key_is_a_400_that_names_the_setting(api, export, settings):
    settings.FAL_KEY = ""
    response = post(api, "/api/training-jobs", {"export_id": str(export.id), "provider": "fal"})
    assert response.status_code == 400
    assert "FAL_KEY" in response.json()["detail"]
    assert not TrainingJob.objects.exists()


def test_bad_settings_are_a_400_and_an_unknown_export_a_404(api, export):
    response = post(
        api, "/api/training-jobs", {"export_id": str(export.id), "provider": "local", "steps": 5}
    )
    assert response.status_code == 400 and "Steps" in response.json()["detail"]
    missing = "00000000-0000-0000-0000-000000000000"
    assert (
        post(api, "/api/training-jobs", {"export_id": missing, "provider": "local"}).status_code
        == 404
    )


def test_canceling_twice_is_a_409(api, export):
    job = post(api, "/api/training-jobs", {"export_id": str(export.id), "provider": "local"}).json()
    response = api.post(f"/api/training-jobs/{job['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert api.post(f"/api/training-jobs/{job['id']}/cancel").status_code == 409


def test_loras_list_versions_with_lineage_and_a_signed_weights_link(api, trained, character):
    body = api.get(f"/api/characters/{character.slug}/loras").json()
    assert len(body) == 1
    lora = body[0]
    assert (lora["version"], lora["status"]) == (1, "ready")
    assert lora["training_job_id"] == trained.training_job_id
    assert lora["export_id"] == str(trained.export_id)
    weights = Client().get(lora["weights_url"].replace("http://testserver", ""))
    assert weights.status_code == 200  # no login: the link is signed


def pin_body(trained, character):
    frontal = ImageFactory(character=character, kind=Image.Kind.REFERENCE)
    side = ImageFactory(character=character, kind=Image.Kind.REFERENCE)
    return {
        "primary_image_id": frontal.id,
        "reference_image_ids": [side.id],
        "roles": {str(side.id): "side"},
        "lora_id": trained.id,
        "lora_scale": "0.8",
    }


def test_only_an_approved_lora_can_be_pinned(api, trained, character):
    response = post(
        api, f"/api/characters/{character.slug}/pin", pin_body(trained, character), "put"
    )
    assert response.status_code == 400 and "approve" in response.json()["detail"]
    assert not Pin.objects.exists()


def test_a_pin_is_versioned_readable_without_login_and_cached_by_etag(
    api, trained, character, django_capture_on_commit_callbacks
):
    reference_set(trained)
    assert api.post(f"/api/loras/{trained.id}/approve").json()["status"] == "approved"
    body = pin_body(trained, character)
    response = post(api, f"/api/characters/{character.slug}/pin", body, "put")
    assert response.status_code == 201, response.content
    pin = response.json()
    assert pin["version"] == 1 and pin["trigger_word"] == "fitmannequin"
    assert pin["references"][0]["role"] == "side" and pin["lora"]["scale"] == 0.8
    # The same pin again makes no new version.
    assert post(api, f"/api/characters/{character.slug}/pin", body, "put").status_code == 200

    got = api.get(f"/api/characters/{character.slug}/pin")
    etag = got["ETag"]
    assert got.status_code == 200 and etag
    anonymous = Client()
    for url in (
        got.json()["primary"]["url"],
        got.json()["lora"]["weights_url"],
        got.json()["pack_url"],
    ):
        assert anonymous.get(url.replace("http://testserver", "")).status_code == 200
    assert (
        api.get(
            f"/api/characters/{character.slug}/pin", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )

    body["lora_scale"] = "1.0"
    assert post(api, f"/api/characters/{character.slug}/pin", body, "put").json()["version"] == 2
    fresh = api.get(f"/api/characters/{character.slug}/pin", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["version"] == 2
    assert [p["version"] for p in api.get(f"/api/characters/{character.slug}/pins").json()] == [
        2,
        1,
    ]


def test_a_pin_api_needs_authentication(client, character):
    assert client.get(f"/api/characters/{character.slug}/pin").status_code == 401


def test_pinning_another_characters_image_is_refused(api, character):
    stranger = ImageFactory()
    response = post(
        api, f"/api/characters/{character.slug}/pin", {"primary_image_id": stranger.id}, "put"
    )
    assert response.status_code == 400 and "not an image of" in response.json()["detail"]


def test_webhook_endpoints_are_created_listed_and_deleted(api, webhooks_allowed):
    response = post(
        api,
        "/api/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hook", "events": ["pin.changed"]},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    listed = api.get("/api/webhook-endpoints").json()
    assert listed[0]["url"] == "http://127.0.0.1:9/hook" and "secret" not in listed[0]
    assert api.delete(f"/api/webhook-endpoints/{created['id']}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/hook", "http"),
        ("http://127.0.0.1/hook", "private"),
        ("http://10.1.2.3/hook", "private"),
        ("http://[::1]/hook", "private"),
        ("http://169.254.169.254/latest", "private"),
    ],
)
def test_webhooks_to_private_or_odd_targets_are_refused(api, url, message):
    response = post(api, "/api/webhook-endpoints", {"url": url})
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not WebhookDelivery.objects.exists() and not WebhookEndpoint.objects.exists()


def test_unknown_events_are_refused(api, webhooks_allowed):
    response = post(
        api, "/api/webhook-endpoints", {"url": "http://127.0.0.1/x", "events": ["nope"]}
    )
    assert response.status_code == 400 and "Unknown event" in response.json()["detail"]


def test_the_schema_lists_the_contract_paths(client, user):
    client.force_login(user)
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in [
        "/api/training-jobs",
        "/api/training-jobs/{job_id}",
        "/api/training-jobs/{job_id}/cancel",
        "/api/characters/{slug}/loras",
        "/api/characters/{slug}/pin",
        "/api/characters/{slug}/pins",
        "/api/webhook-endpoints",
        "/api/webhook-endpoints/{endpoint_id}",
    ]:
        assert path in paths


def test_a_lora_is_approved_only_once_its_reference_set_is_rendered(api, character):
    lora = lora_version(character, status="ready")
    refused = api.post(f"/api/loras/{lora.id}/approve")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "v1 has no reference set yet: render it from the version's page, judge it, then approve."
    )
    lora.refresh_from_db()
    assert lora.status == "ready" and lora.approved_at is None
    reference_set(lora)
    assert api.post(f"/api/loras/{lora.id}/approve").json()["status"] == "approved"


def test_a_lora_cannot_be_approved_twice_after_retiring(api, trained):
    assert api.post(f"/api/loras/{trained.id}/retire").json()["status"] == "retired"
    assert api.post(f"/api/loras/{trained.id}/approve").status_code == 409
    assert LoraModel.objects.get().status == "retired"


def test_a_reference_set_can_be_priced_through_the_runs_api(api, trained, character):
    response = post(
        api,
        f"/api/characters/{character.slug}/runs",
        {
            "kind": "reference_set",
            "lora_id": trained.id,
            "lora_scale": 0.7,
            "shots": ["side"],
            "dry_run": True,
        },
    )
    assert response.status_code == 200, response.content
    assert [c["label"] for c in response.json()["calls"]] == ["Reference: side (v1)"]


def test_a_training_sent_again_with_its_idempotency_key_starts_once(api, export):
    def send(steps):
        return api.post(
            "/api/training-jobs",
            json.dumps({"export_id": str(export.id), "provider": "local", "steps": steps}),
            content_type="application/json",
            headers={"Idempotency-Key": "train-1"},
        )

    first, again = send(1000), send(1000)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert TrainingJob.objects.count() == 1
    assert send(1200).status_code == 422


def _pinned(api, trained, character):
    reference_set(trained)
    api.post(f"/api/loras/{trained.id}/approve")
    post(api, f"/api/characters/{character.slug}/pin", pin_body(trained, character), "put")


def test_a_poller_answered_304_never_holds_dead_links(api, trained, character):
    import time_machine

    from training.pins import LINK_WINDOW

    _pinned(api, trained, character)
    url = f"/api/characters/{character.slug}/pin"
    anonymous = Client()
    with time_machine.travel(1_800_000_000 + 10, tick=False) as traveller:
        first = api.get(url)
        held, etag = first.json(), first["ETag"]
        assert held["links_expire_in"] > LINK_WINDOW
        expires = int(held["primary"]["url"].split("expires=")[1].split("&")[0])
        # Poll every five minutes for five hours: a 304 only while the held links have at
        # least LINK_WINDOW seconds left; a 200 brings fresh ones.
        for _ in range(60):
            traveller.shift(300)
            answer = api.get(url, headers={"If-None-Match": etag})
            if answer.status_code == 200:
                held, etag = answer.json(), answer["ETag"]
                expires = int(held["primary"]["url"].split("expires=")[1].split("&")[0])
            else:
                assert answer.status_code == 304
            assert expires - time.time() >= LINK_WINDOW
            link = held["primary"]["url"].replace("http://testserver", "")
            assert anonymous.get(link).status_code == 200


def test_the_pin_scale_is_a_number_and_a_missing_character_is_said_so(api, trained, character):
    _pinned(api, trained, character)
    assert api.get(f"/api/characters/{character.slug}/pin").json()["lora"]["scale"] == 0.8
    listed = api.get(f"/api/characters/{character.slug}/pins").json()
    assert listed[0]["lora"]["scale"] == 0.8
    missing = api.get("/api/characters/nobody/pin")
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "There is no character “nobody”: GET /api/characters lists their slugs."
    )
    assert api.get("/api/characters/nobody/pins").status_code == 404


def test_a_character_without_a_pin_says_how_to_make_one(api, character):
    response = api.get(f"/api/characters/{character.slug}/pin")
    assert response.status_code == 404
    assert "has no pin yet: pin it on its Training & pin page" in response.json()["detail"]
