"""Trainings, LoRA reviews and pins leave their line in the audit trail."""

import pytest

from lorastudio.models import AuditEvent
from training import loras, pins, reference_sets, services

pytestmark = pytest.mark.usefixtures("eager_tasks")
Action = AuditEvent.Action


def test_training_approval_retirement_and_pin_are_recorded(export, user, settings, finish, drive):
    settings.LOCAL_PROVIDER_DELAY = 0
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local"), created_by=user
    )
    lora = finish(job).lora
    plan = reference_sets.plan(lora=lora, provider="local", scale=1.0)
    run = drive(reference_sets.launch(lora=lora, plan=plan, scale=1.0, shots=None, created_by=user))
    loras.approve_lora(lora=lora, user=user)
    frontal = run.calls.first().images.first()
    pins.pin_character(character=lora.character, primary_image_id=frontal.id, pinned_by=user)
    loras.retire_lora(lora=lora)
    recorded = {e.action: e for e in AuditEvent.objects.all()}
    for action in (
        Action.TRAINING_STARTED,
        Action.RUN_LAUNCHED,
        Action.LORA_APPROVED,
        Action.PIN_CHANGED,
        Action.LORA_RETIRED,
    ):
        assert action in recorded, action
    assert recorded[Action.TRAINING_STARTED].actor == user
    assert f"training #{job.id}" in recorded[Action.TRAINING_STARTED].summary
    assert recorded[Action.PIN_CHANGED].summary.startswith("pinned Fit v1")
