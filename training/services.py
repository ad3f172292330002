"""Training jobs: plan (defaults, presets, price, time), launch as a ProviderCall, follow the
call, cancel, train again. (The weights becoming a LoRA version: `loras.py`.)

A training request is a `ProviderCall` with purpose "training": the one state machine in
generation.calls submits it at most once, polls it (or is woken by a webhook), downloads and
checks the weights, and cancels it. This module keeps the TrainingJob in step with its call
(`sync_job`), which is the only place a job ends, so its notifications go out exactly once.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from characters.models import Character
from datasets.models import DatasetExport
from generation import budgets, calls
from generation.inputs import file_ref
from generation.models import Provider, ProviderCall, Task
from generation.providers import require_provider
from generation.providers.catalog import model_for, trainer_for, training_limit
from lorastudio import audit
from lorastudio.errors import Conflict, Refusal
from lorastudio.models import AuditEvent

from . import defaults
from .models import LoraModel, TrainingJob, TrainingPreset
from .progress import parse_logs

log = logging.getLogger(__name__)
PURPOSE = "training"
CallStatus = ProviderCall.Status
JobStatus = TrainingJob.Status


class TrainingRefused(Refusal):
    """A training cannot start (or change) as asked; the message says why and what to do."""


SETTING_LABELS = {
    "steps": "steps",
    "learning_rate": "learning rate",
    "rank": "rank",
    "resolution": "resolution",
    "batch_size": "batch size",
}


@dataclass(frozen=True)
class TrainingPlan:
    export: DatasetExport
    character: Character
    provider: str
    preset: str
    params: defaults.Params  # the recipe's settings (what a saved preset keeps)
    estimate: defaults.Estimate
    sent: dict  # the settings the provider's trainer takes, as they will be sent
    create_masks: bool = True
    is_style: bool = False
    notes: tuple[str, ...] = ()  # what was clamped, what the provider sets itself
    warnings: tuple[str, ...] = ()  # below a provider's recommended image count

    @property
    def endpoint(self) -> str:
        return model_for(self.provider, Task.TRAIN_LORA).endpoint

    @property
    def not_sent(self) -> list[str]:
        return [SETTING_LABELS[k] for k in SETTING_LABELS if k not in self.sent]


def _decimal(value, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise TrainingRefused(f"The {name} must be a number, e.g. 0.0004.") from None


def _check(params: defaults.Params) -> None:
    if not 100 <= params.steps <= 10000:
        raise TrainingRefused("Steps must be between 100 and 10000 (1000 is typical).")
    if not Decimal("0") < params.learning_rate <= Decimal("0.01"):
        raise TrainingRefused("The learning rate must be above 0 and at most 0.01 (try 0.0004).")
    if not 4 <= params.rank <= 128:
        raise TrainingRefused("The rank must be between 4 and 128 (16 is typical).")
    if not 1 <= params.batch_size <= 8:
        raise TrainingRefused("The batch size must be between 1 and 8.")
    _check_resolution(params.resolution)


def _check_resolution(resolution: str) -> None:
    # ASCII digits only: "²" and "١٠٢٤" pass str.isdigit() but are no size a trainer reads.
    sizes = [s.strip() for s in resolution.split(",")]
    if not sizes or not all(s.isascii() and s.isdigit() and 256 <= int(s) <= 2048 for s in sizes):
        raise TrainingRefused(
            "Resolutions are pixel sizes from 256 to 2048, separated by commas (e.g. 768,1024)."
        )


def _whose(limit) -> str:
    """Whose limit it is, in words: the provider's documented one, or ours."""
    return "our limit" if limit.source.startswith("ours") else "the trainer's documented limit"


def _fit_to_provider(provider: str, params: defaults.Params, typed: dict) -> tuple[dict, list[str]]:
    """The settings `provider` takes, within its limits. A value the user typed beyond a limit
    is refused; one the recipe computed is clamped, and the note says so (catalog.Trainer)."""
    trainer, label = trainer_for(provider), Provider(provider).label
    ignored = [
        SETTING_LABELS[k] for k, v in typed.items() if v is not None and k not in trainer.takes
    ]
    if ignored:
        them = "it" if len(ignored) == 1 else "them"
        raise TrainingRefused(
            f"{label}'s trainer does not take the {', '.join(ignored)}: it sets {them} itself. "
            f"Leave {them} blank, or train on a provider that takes {them}."
        )
    sent, notes = {}, []
    for key in SETTING_LABELS:
        if key not in trainer.takes:
            continue
        value = getattr(params, key)
        if key == "resolution":
            _check_resolution(value)
            sent[key] = value
            continue
        limit = training_limit(provider, key)
        if not limit.holds(value):
            if typed.get(key) is not None:
                raise TrainingRefused(
                    f"{SETTING_LABELS[key].capitalize()}: {label} takes {SETTING_LABELS[key]} "
                    f"{limit.describe()} ({_whose(limit)}); {value} is outside it."
                )
            clamped = limit.clamp(value)
            notes.append(
                f"The recipe's {value} {SETTING_LABELS[key]} is beyond {label}'s limit "
                f"({limit.describe()}, {_whose(limit)}): clamped to {clamped}."
            )
            value = clamped
        sent[key] = value
    not_taken = [SETTING_LABELS[k] for k in SETTING_LABELS if k not in trainer.takes]
    if not_taken:
        notes.append(f"{label} sets the {', '.join(not_taken)} itself: they are not sent.")
    return sent, notes


def _image_count_checks(provider: str, image_count: int) -> list[str]:
    """Refuse below the provider's minimum; warn below what it recommends."""
    trainer, label = trainer_for(provider), Provider(provider).label
    if image_count < trainer.min_images:
        raise TrainingRefused(
            f"{label} trains on at least {trainer.min_images} images (its trainer's own "
            f"documentation); this export has {image_count}. Add images to the dataset and "
            "export again."
        )
    if image_count < trainer.recommended_images:
        return [
            f"{label} recommends at least {trainer.recommended_images} images (its trainer's "
            f"own documentation); this export has {image_count}."
        ]
    return []


def plan_training(
    *,
    export: DatasetExport,
    provider: str,
    preset: str | None = None,
    saved_preset: TrainingPreset | None = None,
    steps: int | None = None,
    learning_rate=None,
    rank: int | None = None,
    resolution: str | None = None,
    batch_size: int | None = None,
) -> TrainingPlan:
    """What a training would run with and cost; nothing is saved or sent."""
    if export.status != DatasetExport.Status.READY:
        raise TrainingRefused(
            f"This export is {export.get_status_display().lower()}: train on a ready export "
            "(export the dataset again if it failed)."
        )
    require_provider(provider, training=True)
    character = export.dataset.character
    create_masks, is_style = True, False
    if saved_preset is not None:
        params, preset_key = defaults.saved_preset_params(saved_preset), saved_preset.name
    else:
        preset_key = preset or defaults.suggested_preset(export.manifest or {})
        if preset_key not in defaults.BUILT_IN_PRESETS:
            raise TrainingRefused(
                f"Unknown preset “{preset_key}”: use "
                f"{', '.join(defaults.BUILT_IN_PRESETS)} or a saved preset."
            )
        chosen = defaults.BUILT_IN_PRESETS[preset_key]
        create_masks, is_style = chosen.create_masks, chosen.is_style
        params = defaults.defaults_for(
            image_count=export.image_count,
            preset=preset_key,
            export_resolution=getattr(export, "resolution", None),
        )
    typed = {
        "steps": steps,
        "learning_rate": _decimal(learning_rate, "learning rate"),
        "rank": rank,
        "resolution": resolution.replace(" ", "") if resolution else None,
        "batch_size": batch_size,
    }
    params = defaults.override(params, **typed)
    warnings = _image_count_checks(provider, export.image_count)
    sent, notes = _fit_to_provider(provider, params, typed)
    return TrainingPlan(
        export=export,
        character=character,
        provider=provider,
        preset=preset_key,
        params=params,
        estimate=defaults.estimate(provider=provider, steps=sent["steps"]),
        sent=sent,
        create_masks=create_masks,
        is_style=is_style,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def launch_training(*, plan: TrainingPlan, created_by: AbstractBaseUser | None) -> TrainingJob:
    """Save the job and its provider call, reserving its cost in the budget; the call is
    submitted once this commits. The job stores what is sent: a setting the provider does not
    take stays empty."""
    user = created_by if getattr(created_by, "is_authenticated", False) else None
    with budgets.launching(
        user=user, what="This training", target=f"character:{plan.character.slug}"
    ):
        budgets.reserve(cost=plan.estimate.cost, user=user, what="This training")
        job = _save_training(plan, user)
        audit.record(
            AuditEvent.Action.TRAINING_STARTED,
            f"started training #{job.id} of {plan.character.name} on "
            f"{job.get_provider_display()} ({budgets.money(plan.estimate.cost)})",
            actor=user,
            target=f"training:{job.id}",
            cost=plan.estimate.cost,
        )
    return job


def _save_training(plan: TrainingPlan, created_by) -> TrainingJob:
    sent = plan.sent
    job = TrainingJob.objects.create(
        character=plan.character,
        export=plan.export,
        provider=plan.provider,
        preset=plan.preset,
        trigger_word=plan.character.trigger_word,
        steps=sent["steps"],
        learning_rate=sent.get("learning_rate"),
        rank=sent.get("rank"),
        resolution=sent.get("resolution"),
        batch_size=sent.get("batch_size"),
        estimated_cost=plan.estimate.cost,
        estimated_seconds=plan.estimate.seconds,
        created_by=created_by,
    )
    inputs = {
        "images_zip_url": file_ref(plan.export.archive.name),
        "trigger_word": job.trigger_word,
        "create_masks": plan.create_masks,
        "is_style": plan.is_style,
        **{k: float(v) if isinstance(v, Decimal) else v for k, v in sent.items()},
    }
    job.call = ProviderCall.objects.create(
        provider=plan.provider,
        task=Task.TRAIN_LORA,
        endpoint=plan.endpoint,
        context={
            "purpose": PURPOSE,
            "label": f"Training #{job.id} of {plan.character.name}",
            "training_job_id": job.id,
            "inputs": inputs,
        },
        estimated_cost=plan.estimate.cost,
        created_by=job.created_by,
    )
    job.save(update_fields=["call", "updated_at"])
    transaction.on_commit(lambda: calls.dispatch(plan.provider))
    return job


def retrain_settings(job: TrainingJob) -> dict:
    """The exact settings of a past job, to open the launch form with ("train again")."""
    return {
        "export": str(job.export_id),
        "provider": job.provider,
        "preset": job.preset if job.preset in defaults.BUILT_IN_PRESETS else "",
        "steps": job.steps,
        "learning_rate": job.learning_rate,
        "rank": job.rank,
        "resolution": job.resolution,
        "batch_size": job.batch_size,
    }


def cancel_training(*, job: TrainingJob) -> TrainingJob:
    """Stop a training: never sent if still queued, canceled at the provider otherwise."""
    if not job.is_live:
        raise Conflict(f"This training has already {job.get_status_display().lower()}.")
    if job.call_id:
        calls.cancel(job.call_id)
    call = ProviderCall.objects.filter(id=job.call_id).first()
    if call is not None and call.status == CallStatus.SUBMITTING:
        raise Conflict(
            "The request is being sent to the provider right now: try canceling again in a "
            "few seconds."
        )
    job = sync_job(job.id)
    audit.record(
        AuditEvent.Action.TRAINING_CANCELED,
        f"canceled training #{job.id} of {job.character.name}",
        target=f"training:{job.id}",
        cost=call.actual_cost if call is not None else None,
    )
    return job


def retry_unknown_training(*, job: TrainingJob) -> None:
    """The user's explicit choice to send a training whose outcome is unknown again."""
    if job.call is None or job.call.status != CallStatus.UNKNOWN:
        raise Conflict("Only a training whose outcome is unknown can be sent again.")
    calls.retry_unknown(job.call_id)


# --- Following the call --------------------------------------------------------------------
_STATUS_OF_CALL = {
    CallStatus.CREATED: JobStatus.QUEUED,
    CallStatus.SUBMITTING: JobStatus.QUEUED,
    CallStatus.SUBMITTED: JobStatus.QUEUED,
    CallStatus.UNKNOWN: JobStatus.QUEUED,
    CallStatus.RUNNING: JobStatus.TRAINING,
    CallStatus.SUCCEEDED: JobStatus.TRAINING,  # downloading and checking the weights
    CallStatus.FAILED: JobStatus.FAILED,
    CallStatus.CANCELED: JobStatus.CANCELED,
}


def _seconds_left(job: TrainingJob, progress, now) -> int | None:
    if progress.seconds_left is not None:
        return progress.seconds_left
    if job.started_at is None:
        return None  # still queued: how long the provider takes to start it is not known
    elapsed = (now - job.started_at).total_seconds()
    if progress.step and progress.total:
        return max(0, round(elapsed * (progress.total - progress.step) / progress.step))
    if job.estimated_seconds:
        return max(0, round(job.estimated_seconds - elapsed))
    return None


def sync_job(job_id) -> TrainingJob:
    """Bring a job up to date with its call: state, step, percent, logs, time left, cost.
    Ends the job (once) when the call has ended; idempotent."""
    job = TrainingJob.objects.select_related("call", "character").get(id=job_id)
    call = job.call
    if call is None or not job.is_live:
        return job
    now = timezone.now()
    if call.status == CallStatus.DONE:
        made_a_lora = LoraModel.objects.filter(training_job=job).exists()
        status = JobStatus.SUCCEEDED if made_a_lora else JobStatus.FAILED
    else:
        status = _STATUS_OF_CALL[call.status]
    progress = parse_logs(call.logs, total_steps=job.steps)
    fields = {
        "logs": call.logs,
        "started_at": call.submitted_at,
        "error": call.error if call.status in (CallStatus.FAILED, CallStatus.UNKNOWN) else "",
    }
    if status == JobStatus.SUCCEEDED:
        fields |= {"progress": 100, "step": job.steps, "eta_seconds": 0}
    elif status in (JobStatus.TRAINING, JobStatus.QUEUED):
        percent = progress.percent if progress.percent is not None else call.progress
        fields |= {
            "progress": max(job.progress, min(100, percent or 0)),
            "step": progress.step if progress.step is not None else job.step,
        }
        job.started_at = call.submitted_at if status == JobStatus.TRAINING else None
        fields["eta_seconds"] = _seconds_left(job, progress, now)
    if status == JobStatus.FAILED and call.status == CallStatus.DONE:
        fields["error"] = job.error or (
            "The provider finished, but no LoRA could be made from its result."
        )
    ended = status in TrainingJob.ENDED
    if ended:
        fields |= {
            "finished_at": call.finished_at or now,
            "actual_cost": call.actual_cost if call.actual_cost is not None else Decimal("0"),
        }
    # Only the pass that moves the job out of a live state ends it: notifications go once.
    claimed = TrainingJob.objects.filter(
        id=job.id, status__in=[JobStatus.QUEUED, JobStatus.TRAINING]
    ).update(status=status, updated_at=now, **fields)
    job.refresh_from_db()
    if ended and claimed == 1:
        transaction.on_commit(lambda: _job_ended(job.id))
    return job


def sync_open_jobs() -> int:
    """The periodic pass: every live job follows its call."""
    ids = list(
        TrainingJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.TRAINING]).values_list(
            "id", flat=True
        )
    )
    for job_id in ids:
        sync_job(job_id)
    return len(ids)


def _job_ended(job_id) -> None:
    from . import notifications, outgoing

    job = TrainingJob.objects.select_related("character", "created_by").get(id=job_id)
    notifications.training_ended(job)
    outgoing.emit(outgoing.TRAINING_ENDED, outgoing.training_payload(job))


# --- Saved presets -------------------------------------------------------------------------
def save_preset(
    *, name: str, params: defaults.Params, description: str = "", created_by=None
) -> TrainingPreset:
    """Save trainer settings under a name, for everyone on this installation."""
    name = name.strip()
    if not name:
        raise TrainingRefused("Give the preset a name.")
    if name in defaults.BUILT_IN_PRESETS or TrainingPreset.objects.filter(name=name).exists():
        raise Conflict(f"A preset called “{name}” exists already: pick another name.")
    _check(params)
    return TrainingPreset.objects.create(
        name=name,
        description=description,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        **params.as_dict(),
    )
