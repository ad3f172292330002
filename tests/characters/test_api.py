import json

import pytest
from django.core.management import call_command
from django.test import Client

from characters.models import Character, Variation
from lorastudio.tokens import issue_api_token
from tests.factories import AnchorFactory, CharacterFactory, PoseFactory

pytestmark = pytest.mark.django_db


def post_json(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


def test_the_api_refuses_requests_without_credentials(client):
    response = client.get("/api/characters")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_a_wrong_or_revoked_token_is_refused(user):
    token, key = issue_api_token(user=user, name="tests")
    assert (
        Client(headers={"Authorization": "Bearer ls_nope"}).get("/api/presets").status_code == 401
    )
    token.revoked_at = token.created_at
    token.save()
    assert Client(headers={"Authorization": f"Bearer {key}"}).get("/api/presets").status_code == 401


def test_a_token_from_the_command_line_works(user, capsys):
    call_command("create_api_token", "artist", "--name", "pipeline")
    key = capsys.readouterr().out.strip()
    assert key.startswith("ls_")
    response = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/presets")
    assert response.status_code == 200


def test_the_browser_session_works_but_writes_need_the_csrf_token(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/characters").status_code == 200
    response = post_json(
        browser, "/api/characters", {"name": "x", "trigger_word": "xchar", "base_prompt": "p"}
    )
    assert response.status_code == 403


def test_presets_list_their_poses_and_variations(api, loaded_presets):
    presets = {p["key"]: p for p in api.get("/api/presets").json()}
    fitness = presets["fitness"]
    assert len(fitness["poses"]) == 8
    pullup = next(v for v in fitness["variations"] if v["key"] == "pullup_top")
    assert pullup["anchor_pose"] == "hanging"


def test_creating_a_character_through_the_api(api, loaded_presets, user):
    response = post_json(
        api,
        "/api/characters",
        {
            "name": "Fit",
            "trigger_word": "fitmannequin",
            "base_prompt": "Orange",
            "preset": "fitness",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "fit"
    assert body["preset"] == "fitness"
    assert [s["key"] for s in body["progress"]][:2] == ["anchors", "variations"]
    assert Character.objects.get().created_by == user


def test_bad_input_gets_a_400_with_the_reason_per_field_and_saves_nothing(api):
    CharacterFactory(trigger_word="jdoe")
    response = post_json(
        api, "/api/characters", {"name": "X", "trigger_word": "jdoe", "base_prompt": ""}
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body["fields"]) == {"trigger_word", "base_prompt"}
    assert "Trigger word: Character with this Trigger word already exists." in body["detail"]
    assert Character.objects.count() == 1


def test_a_malformed_body_is_a_4xx_not_a_500(api):
    response = api.post("/api/characters", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


def test_listing_characters_is_paginated(api):
    CharacterFactory.create_batch(3)
    body = api.get("/api/characters?limit=2").json()
    assert body["count"] == 3
    assert len(body["items"]) == 2


def test_patching_a_character(api):
    character = CharacterFactory()
    response = post_json(api, f"/api/characters/{character.slug}", {"name": "Renamed"}, "patch")
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    response = post_json(
        api, f"/api/characters/{character.slug}", {"trigger_word": "Bad Word"}, "patch"
    )
    assert response.status_code == 400
    character.refresh_from_db()
    assert character.name == "Renamed"


def test_an_unknown_character_is_a_json_404(api):
    response = api.get("/api/characters/nobody")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_the_sheet_lists_every_pose_with_its_anchor_or_null(api):
    character = CharacterFactory()
    PoseFactory(character=character, key="front", order=0)
    back = PoseFactory(character=character, key="back", order=1)
    anchor = AnchorFactory(character=character, pose=back)
    sheet = api.get(f"/api/characters/{character.slug}/sheet").json()
    assert [(e["pose"]["key"], e["image"] and e["image"]["id"]) for e in sheet] == [
        ("front", None),
        ("back", anchor.image_id),
    ]
    assert "sig=" in sheet[1]["image"]["url"]


def test_variation_specs_can_be_listed_and_added(api):
    pose = PoseFactory(key="hanging")
    slug = pose.character.slug
    response = post_json(
        api,
        f"/api/characters/{slug}/variations",
        {"label": "Chin-up", "prompt": "chin-up top", "anchor_pose": "hanging", "strength": "0.5"},
    )
    assert response.status_code == 201
    assert response.json()["key"] == "chin_up"
    assert [v["key"] for v in api.get(f"/api/characters/{slug}/variations").json()] == ["chin_up"]


def test_a_variation_with_strength_above_one_is_refused(api):
    pose = PoseFactory(key="hanging")
    response = post_json(
        api,
        f"/api/characters/{pose.character.slug}/variations",
        {"label": "Chin-up", "prompt": "chin-up top", "anchor_pose": "hanging", "strength": 1.5},
    )
    assert response.status_code == 400
    assert "Strength: " in response.json()["detail"]
    assert set(response.json()["fields"]) == {"strength"}
    assert not Variation.objects.exists()


def test_the_openapi_schema_lists_the_character_endpoints(logged_in):
    schema = logged_in.get("/api/openapi.json").json()
    for path in ["/api/presets", "/api/characters", "/api/characters/{slug}/sheet"]:
        assert path in schema["paths"]
    assert "BearerToken" in schema["components"]["securitySchemes"]
