"""LoRA versions with reference sets, made directly (no training run) for page tests."""

from django.core.files.base import ContentFile

from generation.runs import REFERENCE_SHOTS
from tests.factories import GenerationRunFactory, ImageFactory, ProviderCallFactory
from training.models import LoraModel


def lora_version(character, *, version=1, status="approved", **fields) -> LoraModel:
    return LoraModel.objects.create(
        character=character,
        version=version,
        status=status,
        trigger_word=character.trigger_word,
        weights=ContentFile(b"weights", name=f"v{version}.safetensors"),
        **fields,
    )


def reference_set(lora: LoraModel, *, provider="local", scale=1.0) -> dict:
    """The five standard shots rendered with `lora`: {shot: image}."""
    run = GenerationRunFactory(
        character=lora.character,
        kind="reference_set",
        provider=provider,
        params={"lora_id": lora.id},
    )
    images = {}
    for shot, _ in REFERENCE_SHOTS:
        call = ProviderCallFactory(
            run=run,
            provider=provider,
            task="lora_text_to_image",
            context={"image": {"lora_id": lora.id, "shot": shot, "lora_scale": scale}},
        )
        images[shot] = ImageFactory(character=lora.character, kind="reference", call=call)
    return images
