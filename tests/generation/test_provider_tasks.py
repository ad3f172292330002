"""Training and captioning through each adapter, against the provider fakes."""

import time

import pytest

from generation import downloads
from generation.providers import get_provider
from generation.providers.base import Caption, State, TrainLora

pytestmark = pytest.mark.django_db


def run_to_the_end(provider, task):
    request = provider.build(task)
    external_id = provider.submit(request, webhook_url=None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = provider.poll(request, external_id)
        if result.state not in (State.QUEUED, State.RUNNING):
            return request, result
    raise AssertionError("the job never ended")


def weights_of(provider, output) -> dict:
    content = downloads.fetch(output.url, hosts=provider.download_hosts, max_bytes=10**7)
    if output.extract:
        content = downloads.extract_from_tar(content, output.extract)
    return downloads.check_safetensors(content)


TRAIN = TrainLora(
    images_zip_url="https://studio.example/media/exports/set.zip?sig=x",
    trigger_word="fitmannequin",
    steps=1000,
    rank=16,
    learning_rate=0.0004,
)


def test_training_on_fal_gives_safetensors_weights(fal):
    provider = get_provider("fal")
    request, result = run_to_the_end(provider, TRAIN)
    assert request.endpoint == "fal-ai/flux-lora-fast-training"
    assert request.input["steps"] == 1000 and request.input["trigger_word"] == "fitmannequin"
    assert result.state == State.SUCCEEDED
    assert [o.kind for o in result.outputs] == ["weights", "config"]
    assert weights_of(provider, result.outputs[0])


def test_training_on_replicate_pushes_to_our_model_and_unpacks_the_weights(
    replicate_fake, settings
):
    settings.REPLICATE_OWNER = "studio"
    provider = get_provider("replicate")
    request, result = run_to_the_end(provider, TRAIN)
    assert request.input["lora_rank"] == 16 and request.input["learning_rate"] == 0.0004
    assert result.state == State.SUCCEEDED
    assert weights_of(provider, result.outputs[0])  # taken out of the trainer's tar
    created = replicate_fake.requests.of("create_model")
    assert [c.model for c in created] == ["studio/lora-fitmannequin"]


def test_training_on_replicate_without_an_owner_is_refused_clearly(replicate_fake, settings):
    settings.REPLICATE_OWNER = ""
    provider = get_provider("replicate")
    with pytest.raises(Exception, match="REPLICATE_OWNER"):
        provider.submit(provider.build(TRAIN), webhook_url=None)


@pytest.mark.parametrize("name", ["fal", "replicate", "local"])
def test_captioning_returns_text(name, fal, replicate_fake, settings):
    provider = get_provider(name)
    _, result = run_to_the_end(provider, Caption(image_url="https://studio.example/media/a.png"))
    assert result.state == State.SUCCEEDED
    assert result.outputs[0].kind == "text" and len(result.outputs[0].text) > 10
