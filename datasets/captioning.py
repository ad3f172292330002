"""Captioning a dataset's uploads: one run of `caption` calls through the provider machinery.

The run is an ordinary GenerationRun (kind "captions"): priced first, confirmed, then each
call goes through the one ProviderCall state machine. When a call is done, the handler for
purpose "caption" writes the text onto its dataset item (and onto the image, so another
dataset gets it without paying again).
"""

import logging

from django.contrib.auth.models import AbstractBaseUser

from characters.models import CAPTION_MAX_LENGTH, Image
from generation import runs
from generation.calls import register_output_handler, register_task_builder
from generation.inputs import build_task, file_ref
from generation.models import GenerationRun, Task
from generation.providers.catalog import model_for

from .captions import clean_captioner_text
from .concepts import current_taxonomy
from .models import Dataset, DatasetItem

PURPOSE = "caption"
log = logging.getLogger(__name__)


class CaptioningRefused(runs.RunRefused):
    """Nothing to caption, or a provider that cannot."""


SCOPES = ("uploads", "uncaptioned")


def plan_captions(
    *, dataset: Dataset, provider: str | None = None, overwrite: bool = False, scope="uploads"
) -> runs.Plan:
    """One caption call per image to describe, with its price; nothing is saved.

    `scope="uploads"`: the included uploads still without a caption (every upload with
    `overwrite`). `scope="uncaptioned"`: every included image without a caption, whatever
    its kind (the caption check's “caption these”)."""
    if scope not in SCOPES:
        raise CaptioningRefused(f"Unknown scope “{scope}”: use {' or '.join(SCOPES)}.")
    provider = runs.usable_provider(provider)
    items = dataset.items.filter(included=True).select_related("image")
    if scope == "uploads":
        items = items.filter(image__kind=Image.Kind.UPLOAD)
    if not overwrite or scope == "uncaptioned":
        items = items.filter(caption__regex=r"^\s*$")
    model = model_for(provider, Task.CAPTION)
    plan = runs.Plan(kind=GenerationRun.Kind.CAPTIONS, provider=provider)
    for item in items.order_by("order", "id"):
        plan.calls.append(
            runs.PlannedCall(
                task=Task.CAPTION,
                label=f"Caption image #{item.image_id}",
                images=1,
                estimated_cost=model.estimate(images=1),
                inputs={"image_url": file_ref(item.image.file.name)},
                image={"dataset_item_id": item.id, "image_id": item.image_id},
                purpose=PURPOSE,
            )
        )
    if not plan.calls and scope == "uncaptioned":
        raise CaptioningRefused("Every included image has a caption: nothing to send.")
    if not plan.calls:
        raise CaptioningRefused(
            "Every included upload already has a caption: nothing to send. Tick “caption "
            "again” to replace them."
        )
    return plan


def launch_captions(
    *,
    dataset: Dataset,
    plan: runs.Plan,
    created_by: AbstractBaseUser | None,
    overwrite: bool,
    scope: str = "uploads",
) -> GenerationRun:
    """Start the priced caption run."""
    return runs.launch_run(
        plan=plan,
        character=dataset.character,
        created_by=created_by,
        params={
            "dataset_id": dataset.id,
            "provider": plan.provider,
            "overwrite": overwrite,
            "scope": scope,
        },
    )


def save_caption(call, outputs) -> None:
    """A caption call is done: its text becomes the item's caption (and the image's)."""
    text = next((o.text for o in outputs if o.kind == "text" and o.text), "")
    # A captioner that rambles is cut at the length every caption keeps to.
    caption = clean_captioner_text(text)[:CAPTION_MAX_LENGTH].strip()
    target = call.context["image"]
    if not caption:
        log.warning("Caption call %s returned no text", call.id)
        return
    item = DatasetItem.objects.filter(id=target.get("dataset_item_id")).first()
    if item is not None:  # the dataset may have been deleted meanwhile
        item.caption = caption
        item.concepts = current_taxonomy().extract(caption)
        item.save(update_fields=["caption", "concepts", "updated_at"])
    Image.objects.filter(id=target.get("image_id"), caption="").update(caption=caption)


def register() -> None:
    register_task_builder(PURPOSE, build_task)
    register_output_handler(PURPOSE, save_caption)
