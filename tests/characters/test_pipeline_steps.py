"""The character page's last three steps: Train, Reference set and Pin, in each state."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from characters import selectors
from tests.factories import ImageFactory, ProviderCallFactory, ReadyExportFactory
from training.models import LoraModel, Pin


@pytest.fixture
def exported(character):
    """Everything up to the export done: the next step is Train."""
    from characters.services import pick_anchor

    for pose in character.poses.all():
        image = ImageFactory(character=character, kind="candidate", pose=pose)
        pick_anchor(character=character, pose_key=pose.key, image_id=image.id, picked_by=None)
    for _ in range(20):
        ImageFactory(character=character, kind="variation", review="approved")
    from tests.factories import DatasetFactory

    ReadyExportFactory(dataset=DatasetFactory(character=character))
    return character


def _lora(character, status="ready", version=1):
    return LoraModel.objects.create(
        character=character,
        version=version,
        status=status,
        trigger_word=character.trigger_word,
        weights=ContentFile(b"weights", name="w.safetensors"),
    )


def _reference_image(character, lora):
    call = ProviderCallFactory(context={"image": {"lora_id": lora.id, "shot": "frontal"}})
    return ImageFactory(character=character, kind="reference", call=call)


def _states(character) -> dict[str, str]:
    return {s.key: s.state for s in selectors.pipeline_progress(character)}


def _step(character, key):
    return next(s for s in selectors.pipeline_progress(character) if s.key == key)


def test_train_is_current_until_a_training_made_a_lora(exported):
    states = _states(exported)
    assert (states["dataset"], states["train"], states["pin"]) == ("done", "current", "todo")


def test_train_is_done_with_a_ready_lora(exported):
    _lora(exported)
    assert _states(exported)["train"] == "done"
    assert "LoRA 1 ready" in _step(exported, "train").summary


def test_train_stays_done_once_every_lora_is_approved(exported):
    _lora(exported, status="approved")
    assert _states(exported)["train"] == "done"
    assert "LoRA 1 approved" in _step(exported, "train").summary


def test_the_reference_step_is_current_while_no_version_is_approved(exported):
    lora = _lora(exported)
    step = _step(exported, "reference_set")
    assert (step.state, step.summary) == ("current", "No reference set yet")
    assert step.url == reverse("training:lora_detail", args=[lora.id])
    _reference_image(exported, lora)
    step = _step(exported, "reference_set")
    assert step.state == "current"
    assert step.summary == "1 reference image · approve a version on its LoRA page"
    assert "approved" not in step.summary.split("·")[0]  # it never asks to approve images


def test_the_reference_step_is_done_once_a_version_is_approved(exported):
    lora = _lora(exported, status="approved")
    _reference_image(exported, lora)
    step = _step(exported, "reference_set")
    assert (step.state, step.summary) == ("done", "1 reference image · 1 version approved")
    assert _states(exported)["pin"] == "current"


def test_pin_is_done_when_the_character_has_a_pin(exported, logged_in):
    lora = _lora(exported, status="approved")
    image = _reference_image(exported, lora)
    Pin.objects.create(character=exported, version=1, primary_image=image, lora=lora)
    states = _states(exported)
    assert states["pin"] == "done"
    assert _step(exported, "pin").summary == "Pinned: version 1"
    html = logged_in.get(exported.get_absolute_url()).content.decode()
    assert 'class="step done" data-step="pin"' in html
    assert "Not pinned" not in html
