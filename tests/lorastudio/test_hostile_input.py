"""Careless and hostile input gets a clean 4xx naming what is wrong, and nothing is saved."""

import json
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from characters.models import Character, Image, Variation
from datasets.models import DatasetItem
from tests.factories import DatasetFactory, ImageFactory

pytestmark = pytest.mark.django_db


def send(client, method, url, data):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


NEW_CHARACTER = {"name": "Nul", "trigger_word": "nulmannequin", "base_prompt": "a mannequin"}


# --- NUL characters: refused once, for every string input ---------------------------------
@pytest.mark.parametrize("field", ["name", "base_prompt", "negative_prompt", "trigger_word"])
def test_a_nul_in_a_new_characters_field_is_refused_naming_the_field(api, field):
    response = send(api, "post", "/api/characters", {**NEW_CHARACTER, field: "a\x00b"})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["detail"]
    assert not Character.objects.exists()


def test_a_nul_in_a_character_change_is_refused(api, character):
    response = send(api, "patch", f"/api/characters/{character.slug}", {"base_prompt": "\x00"})
    assert response.status_code == 400
    assert response.json()["field"] == "base_prompt"
    character.refresh_from_db()
    assert "\x00" not in character.base_prompt


def test_a_nul_in_a_variation_prompt_is_refused(api, character):
    before = Variation.objects.count()
    data = {"label": "x", "prompt": "arms up\x00", "anchor_pose": "hanging", "strength": "0.5"}
    response = send(api, "post", f"/api/characters/{character.slug}/variations", data)
    assert response.status_code == 400
    assert response.json()["field"] == "prompt"
    assert Variation.objects.count() == before


def test_a_nul_in_an_image_caption_is_refused(api, character):
    image = ImageFactory(character=character)
    response = send(api, "patch", f"/api/images/{image.id}", {"caption": "a\x00"})
    assert response.status_code == 400
    assert response.json()["field"] == "caption"
    assert Image.objects.get(id=image.id).caption == ""


def test_a_nul_inside_a_list_is_named_by_its_position(api, character):
    data = {"kind": "anchors", "poses": ["hanging", "squat\x00"], "dry_run": True}
    response = send(api, "post", f"/api/characters/{character.slug}/runs", data)
    assert response.status_code == 400
    assert response.json()["field"] == "poses[1]"


def test_a_nul_in_a_query_parameter_or_the_path_is_refused(api, character):
    response = api.get(f"/api/characters/{character.slug}/images?pose=%00")
    assert (response.status_code, response.json()["field"]) == (400, "pose")
    response = api.get("/api/characters/fit%00")
    assert (response.status_code, response.json()["field"]) == (400, "path")


def test_a_nul_in_a_webhook_id_is_refused(client):
    response = send(client, "post", "/webhooks/replicate", {"id": "pred\x00"})
    assert (response.status_code, response.json()["field"]) == (400, "id")


def test_a_nul_in_a_page_query_is_refused(logged_in, character):
    response = logged_in.get(f"/characters/{character.slug}/gallery/?pose=%00")
    assert response.status_code == 400
    assert b"pose" in response.content


def test_a_nul_in_an_htmx_post_is_refused_with_the_message_htmx_shows(logged_in, character):
    # htmx swaps nothing on a 400: without the `refused` event the click would say nothing.
    item = DatasetItem.objects.create(
        dataset=DatasetFactory(character=character),
        image=ImageFactory(character=character),
        caption="fit, standing",
    )
    response = logged_in.post(
        reverse("datasets:item_caption", args=[item.id]),
        urlencode({"caption": "fit\x00"}),  # as htmx posts a form
        content_type="application/x-www-form-urlencoded",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    message = response.content.decode()
    assert "“caption” contains a NUL character" in message
    assert json.loads(response["HX-Trigger"]) == {"refused": {"message": message}}
    item.refresh_from_db()
    assert item.caption == "fit, standing"


# --- Pagination: bounded everywhere -------------------------------------------------------
PAGINATED = ["/api/characters", "/api/characters/fit/images"]


@pytest.mark.parametrize("url", PAGINATED)
@pytest.mark.parametrize(
    "query", ["limit=" + "9" * 20, "offset=" + "9" * 20, "limit=201", "limit=100000000"]
)
def test_absurd_limits_and_offsets_are_refused_naming_the_parameter(api, character, url, query):
    response = api.get(f"{url}?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == query.split("=")[0]


def test_every_paginated_operation_bounds_limit_and_offset():
    # Read from the schema, so an endpoint paginated later is held to the same bounds.
    from lorastudio.api import api as ninja_api

    paginated = []
    for path, operations in ninja_api.get_openapi_schema()["paths"].items():
        for method, operation in operations.items():
            parameters = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
            if "limit" in parameters:
                paginated.append(f"{method} {path}")
                assert parameters["limit"]["maximum"] <= 200, path
                assert parameters["offset"]["maximum"] < 2**63, path
    assert len(paginated) >= 2


def test_a_page_of_200_is_the_largest(api, character):
    response = api.get("/api/characters?limit=200&offset=0")
    assert response.status_code == 200
    assert response.json()["count"] == 1


# --- Length limits and empty lists --------------------------------------------------------
def test_a_half_megabyte_base_prompt_is_refused_naming_the_field(api):
    data = {**NEW_CHARACTER, "base_prompt": "x" * (512 * 1024)}
    response = send(api, "post", "/api/characters", data)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "base_prompt"
    assert not Character.objects.exists()


def test_a_five_megabyte_body_is_refused_on_its_length(api):
    data = {**NEW_CHARACTER, "base_prompt": "x" * (5 * 1024 * 1024)}
    response = send(api, "post", "/api/characters", data)
    assert response.status_code == 413
    assert "this address takes at most 1.0 MB" in response.json()["detail"]
    assert not Character.objects.exists()


@pytest.mark.parametrize(
    "field, length", [("name", 101), ("base_prompt", 2001), ("negative_prompt", 2001)]
)
def test_long_character_fields_are_refused_by_api_and_model(api, character, field, length):
    response = send(api, "patch", f"/api/characters/{character.slug}", {field: "x" * length})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    from django.core.exceptions import ValidationError

    setattr(character, field, "x" * length)
    with pytest.raises(ValidationError) as refused:
        character.full_clean()
    assert field in refused.value.message_dict


def test_a_long_variation_prompt_and_caption_are_refused(api, character):
    data = {"label": "x", "prompt": "x" * 2001, "anchor_pose": "hanging", "strength": "0.5"}
    response = send(api, "post", f"/api/characters/{character.slug}/variations", data)
    assert (response.status_code, response.json()["detail"][0]["loc"][-1]) == (422, "prompt")
    image = ImageFactory(character=character)
    response = send(api, "patch", f"/api/images/{image.id}", {"caption": "x" * 1001})
    assert (response.status_code, response.json()["detail"][0]["loc"][-1]) == (422, "caption")


def test_a_long_prompt_is_refused_by_the_character_form(logged_in, character):
    data = {
        "name": "Fit",
        "trigger_word": character.trigger_word,
        "base_prompt": "x" * 2001,
        "negative_prompt": "",
    }
    response = logged_in.post(f"/characters/{character.slug}/edit/", data)
    assert response.status_code == 200
    assert "base_prompt" in response.context["form"].errors


@pytest.mark.parametrize("field", ["poses", "variations"])
def test_an_empty_list_of_poses_or_variations_is_refused_not_read_as_all(api, character, field):
    kind = "anchors" if field == "poses" else "variations"
    data = {"kind": kind, field: [], "dry_run": True}
    response = send(api, "post", f"/api/characters/{character.slug}/runs", data)
    assert response.status_code == 400
    assert f"at least one {field[:-1]}" in response.json()["detail"]
