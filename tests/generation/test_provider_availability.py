"""A provider without its key is refused before anything is planned, and shown as unavailable."""

import json

import pytest

from datasets import captioning
from generation import embeddings, providers, runs
from generation.models import GenerationRun
from tests.factories import (
    DatasetFactory,
    GenerationRunFactory,
    ProviderCallFactory,
    ReadyExportFactory,
)
from training import services as training_services

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


# --- One check of a provider name, for every plan that spends ------------------------------
PLANS = {
    "run": lambda c, provider: runs.plan_run(character=c, kind="anchors", provider=provider),
    "retry": lambda c, provider: runs.plan_retry(
        run=ProviderCallFactory(
            run=GenerationRunFactory(character=c, provider=provider), status="failed"
        ).run
    ),
    "captions": lambda c, provider: captioning.plan_captions(
        dataset=DatasetFactory(character=c), provider=provider
    ),
    "likeness": lambda c, provider: embeddings.plan_embeddings(character=c, provider=provider),
    "training": lambda c, provider: training_services.plan_training(
        export=ReadyExportFactory(dataset=DatasetFactory(character=c)), provider=provider
    ),
}


@pytest.mark.parametrize("plan", PLANS)
def test_every_plan_refuses_a_provider_without_its_key_in_the_same_words(character, no_keys, plan):
    with pytest.raises(providers.ProviderUnavailable) as refused:
        PLANS[plan](character, "replicate")
    verb = "cannot train here" if plan == "training" else "cannot be used"
    assert refused.value.message == (
        f"Replicate {verb}: REPLICATE_API_TOKEN is not set: add it to the environment "
        "(or .env.local) to use it."
    )
    assert refused.value.status_code == 400


@pytest.mark.parametrize("plan", PLANS)
def test_every_plan_refuses_an_unknown_provider_naming_the_known_ones(character, plan):
    with pytest.raises(providers.ProviderUnavailable, match="Unknown provider “nope”: use one of"):
        PLANS[plan](character, "nope")


def test_training_on_replicate_also_needs_the_owner_of_the_model(settings):
    settings.REPLICATE_API_TOKEN, settings.REPLICATE_OWNER = "token", ""
    assert providers.provider_problem("replicate") == ""
    assert "REPLICATE_OWNER" in providers.provider_problem("replicate", training=True)
