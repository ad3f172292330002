"""Whole-figure likeness through Replicate's CLIP features, through the real replicate SDK
against the fake: priced first, one durable call per image, never sent twice."""

from decimal import Decimal

import pytest

from characters.models import ImageEmbedding, LikenessScore
from generation import calls, embeddings
from generation.models import GenerationRun, ProviderCall
from tests.factories import ImageFactory

CLIP = "andreasjansson/clip-features"
pytestmark = pytest.mark.usefixtures("eager_tasks")


def test_embedding_calls_are_priced_before_anything_is_sent(replicate_fake, character):
    ImageFactory.create_batch(3, character=character)
    plan = embeddings.plan_embeddings(character=character, provider="replicate")
    assert len(plan.calls) == 3
    # Nvidia T4 at $0.000225 a second, two seconds expected: $0.0004 a call (4 places).
    assert plan.estimated_cost == Decimal("0.0012")
    assert not ProviderCall.objects.exists()
    assert replicate_fake.requests.creates_per_model() == {}


def test_each_image_gets_its_figure_vector_once_and_is_scored(
    replicate_fake, character, user, drive
):
    images = ImageFactory.create_batch(3, character=character)
    plan = embeddings.plan_embeddings(character=character, provider="replicate")
    run = drive(embeddings.launch_embeddings(character=character, plan=plan, created_by=user))

    assert run.status == GenerationRun.Status.SUCCEEDED
    assert run.kind == GenerationRun.Kind.LIKENESS
    assert replicate_fake.requests.creates_per_model() == {CLIP: 3}
    call = run.calls.first()
    assert call.request == {"inputs": call.request["inputs"]}  # the image, nothing else
    # Billed by the second the fake reports (2.5 s at $0.000225).
    assert call.actual_cost == Decimal("0.0006")
    vectors = ImageEmbedding.objects.filter(measure="figure", model=CLIP)
    assert vectors.count() == 3 and all(len(v.vector) == 768 for v in vectors)
    assert all(abs(sum(x * x for x in v.vector) - 1) < 1e-3 for v in vectors)  # normalised
    # No face, no sheet: the character is judged by the figure vectors (consensus).
    assert LikenessScore.objects.filter(image__in=images, primary=True, measure="figure").count()

    # Sent again (a redelivered task, the periodic pass): nothing new reaches Replicate.
    for call in run.calls.all():
        calls.submit(call.id)
        calls.download(call.id)
    calls.sweep()
    assert replicate_fake.requests.creates_per_model() == {CLIP: 3}
    with pytest.raises(embeddings.EmbeddingsRefused, match="already has"):
        embeddings.plan_embeddings(character=character, provider="replicate")


def test_fal_and_the_simulator_have_no_embedding_model_and_say_what_to_use(character, settings):
    settings.FAL_KEY = "fal-key"
    ImageFactory(character=character)
    for provider in ("fal", "local"):
        with pytest.raises(embeddings.EmbeddingsRefused, match="Replicate"):
            embeddings.plan_embeddings(character=character, provider=provider)


def test_the_api_prices_a_likeness_run_and_starts_it(api, replicate_fake, character, drive):
    ImageFactory.create_batch(2, character=character)
    url = f"/api/characters/{character.slug}/likeness-runs"
    dry = api.post(url, {"provider": "replicate", "dry_run": True}, content_type="application/json")
    assert dry.status_code == 200
    assert dry.json()["call_count"] == 2 and dry.json()["estimated_cost"] == "0.0008"
    assert not GenerationRun.objects.exists()
    started = api.post(url, {"provider": "replicate"}, content_type="application/json")
    assert started.status_code == 201
    run = drive(GenerationRun.objects.get(id=started.json()["id"]))
    assert run.status == GenerationRun.Status.SUCCEEDED
    refused = api.post(url, {"provider": "fal"}, content_type="application/json")
    assert refused.status_code == 400 and "Replicate" in refused.json()["detail"]
