"""Whole-figure likeness through a provider: one priced `embed_image` call per image, through
the one ProviderCall state machine (submitted at most once, durable, priced from the
catalog). When a call is done its vector is stored as the image's `figure` embedding and
the image is scored (characters.likeness). For characters without a human face (seed 000's
mannequin, stylised characters); offline, the rough measure stands in.
"""

import logging

from django.contrib.auth.models import AbstractBaseUser

from characters.likeness import scoring
from characters.likeness.figure import FigureMeasure
from characters.models import Character, Image, ImageEmbedding, Measure

from . import runs
from .calls import register_output_handler, register_task_builder
from .inputs import build_task, file_ref
from .models import GenerationRun, Provider, Task
from .providers import require_provider
from .providers.catalog import model_for

PURPOSE = "likeness_embedding"
log = logging.getLogger(__name__)


class EmbeddingsRefused(runs.RunRefused):
    """Nothing to measure, or a provider that cannot."""


def plan_embeddings(*, character: Character, provider: str, limit: int = 500) -> runs.Plan:
    """One embedding call per image of the character without a figure vector of the
    provider's model, with its price; nothing is saved."""
    if provider not in Provider.values:
        require_provider(provider)  # refused, naming the providers there are
    try:
        model = model_for(provider, Task.EMBED_IMAGE)
    except LookupError:
        raise EmbeddingsRefused(
            f"{Provider(provider).label} has no image-embedding model here: use Replicate "
            "(CLIP features), or the offline rough measure that every image already has."
        ) from None
    require_provider(provider)
    done = ImageEmbedding.objects.filter(measure=Measure.FIGURE, model=model.endpoint)
    images = (
        character.images.exclude(review=Image.Review.REJECTED)
        .exclude(id__in=done.values("image_id"))
        .order_by("created_at", "id")[:limit]
    )
    plan = runs.Plan(kind=GenerationRun.Kind.LIKENESS, provider=provider)
    for image in images:
        plan.calls.append(
            runs.PlannedCall(
                task=Task.EMBED_IMAGE,
                label=f"Figure likeness of image #{image.id}",
                images=1,
                estimated_cost=model.estimate(images=1),
                inputs={"image_url": file_ref(image.file.name)},
                image={"image_id": image.id, "model": model.endpoint},
                purpose=PURPOSE,
            )
        )
    if not plan.calls:
        raise EmbeddingsRefused("Every image already has its whole-figure vector.")
    return plan


def launch_embeddings(
    *, character: Character, plan: runs.Plan, created_by: AbstractBaseUser | None
) -> GenerationRun:
    """Start the priced embedding run."""
    return runs.launch_run(
        plan=plan, character=character, created_by=created_by, params={"provider": plan.provider}
    )


def save_embedding(call, outputs) -> None:
    """An embedding call is done: its vector becomes the image's figure embedding, scored."""
    vector = next((o.vector for o in outputs if o.kind == "embedding" and o.vector), None)
    target = call.context["image"]
    if vector is None:
        log.warning("Embedding call %s returned no vector", call.id)
        return
    scoring.save_vector(
        image_id=target["image_id"],
        measure=FigureMeasure.name,
        model=target.get("model") or call.endpoint,
        reading=FigureMeasure.reading(vector),
    )


def register() -> None:
    register_task_builder(PURPOSE, build_task)
    register_output_handler(PURPOSE, save_embedding)
