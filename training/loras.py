"""LoRA versions: the trained weights become the character's next version (v1, v2, ...);
approving and retiring versions."""

import hashlib
import json

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from characters.models import Character
from generation.models import ProviderCall
from lorastudio import audit
from lorastudio.errors import Conflict
from lorastudio.models import AuditEvent

from .models import LoraModel, TrainingJob
from .selectors import reference_images
from .services import sync_job


# --- The result of a training -----------------------------------------
def save_trained_lora(call: ProviderCall, outputs) -> None:
    """Output handler of training calls: weights (already checked as .safetensors) and the
    config go into our storage as the character's next LoRA version. Runs in the download's
    transaction, so a crash here leaves the call to be downloaded again."""
    job = TrainingJob.objects.select_related("character", "export").get(
        id=call.context["training_job_id"]
    )
    if LoraModel.objects.filter(training_job=job).exists():
        return
    weights = next((o for o in outputs if o.kind == "weights"), None)
    if weights is None or not weights.content:
        # Nothing to keep: the call ends done, and the job fails saying why.
        TrainingJob.objects.filter(id=job.id).update(
            error="The provider reported success but sent no weights file: train again."
        )
        transaction.on_commit(lambda: sync_job(job.id))
        return
    config = next((o for o in outputs if o.kind == "config" and o.content), None)
    # Versions are numbered per character: lock it so two trainings never share a number.
    Character.objects.select_for_update().get(id=job.character_id)
    version = (
        LoraModel.objects.filter(character=job.character).aggregate(v=Max("version"))["v"] or 0
    ) + 1
    lora = LoraModel(
        character=job.character,
        training_job=job,
        export=job.export,
        version=version,
        status=LoraModel.Status.READY,
        trigger_word=job.trigger_word,
        provider_weights_url=weights.url[:1000],
        size_bytes=len(weights.content),
        sha256=hashlib.sha256(weights.content).hexdigest(),
    )
    stem = f"{job.character.slug}-v{version}"
    lora.weights.save(f"{stem}.safetensors", ContentFile(weights.content), save=False)
    config_bytes = config.content if config else _our_config(job)
    lora.config_file.save(f"{stem}-config.json", ContentFile(config_bytes), save=False)
    lora.save()
    transaction.on_commit(lambda: sync_job(job.id))


def _our_config(job: TrainingJob) -> bytes:
    """When the provider gives no config file, keep what we asked it for."""
    return json.dumps(
        {
            "provider": job.provider,
            "endpoint": job.call.endpoint if job.call else "",
            "request": job.call.request if job.call else {},
            "trigger_word": job.trigger_word,
            "steps": job.steps,
            # null: not sent, the provider's trainer sets it itself
            "learning_rate": str(job.learning_rate) if job.learning_rate is not None else None,
            "rank": job.rank,
            "resolution": job.resolution,
            "batch_size": job.batch_size,
            "optimizer": job.optimizer,
        },
        indent=2,
    ).encode()


# --- Approving and retiring versions -------------------------------------------------------
class NoReferenceSet(Conflict):
    """A version is judged by its reference set: none rendered yet, nothing to approve on."""


def approve_lora(*, lora: LoraModel, user: AbstractBaseUser | None) -> LoraModel:
    """Mark a ready version as approved: good enough to pin. Only once its reference set (or
    a shot of it) has been rendered, to judge it by."""
    if lora.status not in LoraModel.USABLE:
        raise Conflict(
            f"v{lora.version} is {lora.get_status_display().lower()}: only a ready version "
            "can be approved."
        )
    if not reference_images(lora).exists():
        raise NoReferenceSet(
            f"v{lora.version} has no reference set yet: render it from the version's page, "
            "judge it, then approve."
        )
    lora.status, lora.approved_at, lora.retired_at = LoraModel.Status.APPROVED, timezone.now(), None
    lora.approved_by = user if getattr(user, "is_authenticated", False) else None
    lora.save(update_fields=["status", "approved_at", "approved_by", "retired_at", "updated_at"])
    audit.record(
        AuditEvent.Action.LORA_APPROVED,
        f"approved {lora.character.name} LoRA v{lora.version}",
        actor=user,
        target=f"lora:{lora.id}",
    )
    return lora


def retire_lora(*, lora: LoraModel) -> LoraModel:
    """Take a version out of use; pins keep pointing at it as they were made."""
    if lora.status not in LoraModel.USABLE:
        raise Conflict(
            f"v{lora.version} is {lora.get_status_display().lower()} and cannot be retired."
        )
    lora.status, lora.retired_at = LoraModel.Status.RETIRED, timezone.now()
    lora.save(update_fields=["status", "retired_at", "updated_at"])
    audit.record(
        AuditEvent.Action.LORA_RETIRED,
        f"retired {lora.character.name} LoRA v{lora.version}",
        target=f"lora:{lora.id}",
    )
    return lora
