"""What happens to a call's results: pictures become rows of the one image table."""

from decimal import Decimal

from characters import shot_types
from characters.imaging import attach_files
from characters.likeness import scoring as likeness
from characters.models import Image

from .calls import register_output_handler, register_task_builder
from .inputs import build_task


def save_images(call, outputs) -> None:
    """One Image per output picture, linked to its call, prompt, seed, strength and source."""
    meta = call.context["image"]
    inputs = call.context["inputs"]
    for index, output in enumerate(o for o in outputs if o.kind == "image"):
        if Image.objects.filter(call=call, call_output=index).exists():
            continue
        strength = inputs.get("strength")
        image = Image(
            character_id=meta["character_id"],
            kind=meta["kind"],
            pose_id=meta.get("pose_id"),
            variation_id=meta.get("variation_id"),
            source_image_id=meta.get("source_image_id"),
            call=call,
            call_output=index,
            prompt=inputs.get("prompt", ""),
            seed=output.seed if output.seed is not None else inputs.get("seed"),
            strength=Decimal(str(strength)) if strength is not None else None,
            created_by_id=call.created_by_id,
        )
        attach_files(image, output.content, filename=f"{call.id}-{index}.png")
        shot_types.assign(
            image,
            face_ratio=shot_types.face_ratio_of(output.content),
            intent=meta.get("shot", ""),
        )
        image.save()
        likeness.measure_later([image.id])


def register() -> None:
    register_task_builder("images", build_task)
    register_output_handler("images", save_images)
