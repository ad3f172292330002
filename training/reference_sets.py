"""Reference sets (seed 004): the five standard shots rendered with a LoRA version, through the
run mechanism (kind `reference_set`), priced before anything is sent."""

from django.contrib.auth.models import AbstractBaseUser

from generation import runs
from generation.models import GenerationRun

from .models import LoraModel


def plan(*, lora: LoraModel, provider: str, scale: float = 1.0, shots=None) -> runs.Plan:
    """The calls a reference set of `lora` would make and what they cost; nothing is saved."""
    return runs.plan_run(
        character=lora.character,
        kind=GenerationRun.Kind.REFERENCE_SET,
        provider=provider,
        lora_id=lora.id,
        lora_scale=scale,
        shots=shots or None,
    )


def launch(
    *, lora: LoraModel, plan: runs.Plan, scale: float, shots, created_by: AbstractBaseUser | None
) -> GenerationRun:
    """Start the run; `params.lora_id` ties it into the LoRA's lineage."""
    params = {"kind": GenerationRun.Kind.REFERENCE_SET, "lora_id": lora.id, "lora_scale": scale}
    if shots:
        params["shots"] = list(shots)
    return runs.launch_run(
        plan=plan,
        character=lora.character,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        params=params,
    )
