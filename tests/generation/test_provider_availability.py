"""A provider without its key is refused before anything is planned, and shown as unavailable."""

import json

import pytest

from generation import providers, runs
from generation.models import GenerationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_keys(settings):
    settings.FAL_KEY = ""
    settings.REPLICATE_API_TOKEN = ""


@pytest.mark.parametrize(
    "provider, setting", [("fal", "FAL_KEY"), ("replicate", "REPLICATE_API_TOKEN")]
)
def test_a_dry_run_on_a_provider_without_its_key_is_refused_naming_the_setting(
    api, character, no_keys, provider, setting
):
    data = {"kind": "anchors", "provider": provider, "dry_run": True}
    response = api.post(
        f"/api/characters/{character.slug}/runs", json.dumps(data), content_type="application/json"
    )
    assert response.status_code == 400
    assert f"{setting} is not set" in response.json()["detail"]
    assert not GenerationRun.objects.exists()


def test_a_run_from_the_page_on_a_provider_without_its_key_is_refused(
    logged_in, character, no_keys
):
    response = logged_in.post(
        f"/runs/new/{character.slug}/", {"kind": "anchors", "provider": "fal"}, follow=True
    )
    assert "FAL_KEY is not set" in response.content.decode()
    assert not GenerationRun.objects.exists()


def test_the_local_simulator_needs_no_key(character, no_keys):
    plan = runs.plan_run(character=character, kind="anchors", provider="local", count=1)
    assert plan.calls


def test_available_gives_each_provider_with_the_reason_it_cannot_be_used(no_keys, settings):
    settings.FAL_KEY = "fal-key"
    options = {option.key: option for option in providers.available()}
    assert options["local"].usable and options["fal"].usable
    assert not options["replicate"].usable
    assert "REPLICATE_API_TOKEN" in options["replicate"].reason


def test_the_run_forms_show_a_provider_without_its_key_disabled_with_the_reason(
    logged_in, character, no_keys
):
    for url in (f"/characters/{character.slug}/", f"/characters/{character.slug}/anchors/"):
        page = logged_in.get(url).content.decode()
        assert '<option value="fal"  disabled title="FAL_KEY is not set' in page
        assert '<option value="local" selected>' in page
