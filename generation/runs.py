"""Launching runs: turn a request (anchors, variations, reference set) into planned calls.

A plan is shown before anything is spent (`dry_run`): how many calls, how many images, and
what they will cost. Launching saves the run and its calls in one transaction; the calls are
then submitted by the state machine as the provider's concurrency allows.
"""

import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from characters.models import Anchor, Character, Image
from lorastudio import audit, labels
from lorastudio.errors import Conflict, Refusal
from lorastudio.models import AuditEvent

from . import budgets, calls
from .inputs import file_ref
from .models import GenerationRun, ProviderCall, Task
from .providers import require_provider
from .providers.catalog import model_for
from .run_status import refresh_run

Action = AuditEvent.Action
DEFAULT_CANDIDATES = 10
LIKE_COUNT = 4
LIKE_STRENGTH = 0.35  # seed 000: 0.3–0.4 keeps the character, changes details
VARIATION_MODES = ("image_to_image", "multi_reference")
MAX_REFERENCES = 4  # Kontext multi-reference takes up to four images
MAX_IMAGES_PER_RUN = 500
# Seed 004: the five standard shots of the trained character. Each shot has a fixed seed, so
# every LoRA version renders the same prompt-and-seed suite and versions compare like for like.
REFERENCE_SHOTS = [
    ("frontal", "full body, standing facing the camera, neutral pose"),
    ("side", "full body, side profile view"),
    ("three_quarter", "full body, three-quarter view, turned slightly away from the camera"),
    ("action", "full body, dynamic action pose, mid-motion"),
    ("close_up", "close-up portrait of the head and shoulders, facing the camera"),
]
REFERENCE_SEEDS = {shot: 40401 + i for i, (shot, _) in enumerate(REFERENCE_SHOTS)}


class RunRefused(Refusal):
    """The run cannot be launched as asked; the message says why and what to do."""


@dataclass
class PlannedCall:
    task: str
    label: str
    images: int
    estimated_cost: Decimal
    inputs: dict
    image: dict
    purpose: str = "images"  # which output handler receives the results (calls.purposes)

    @property
    def task_label(self) -> str:
        return Task(self.task).label


@dataclass
class Plan:
    kind: str
    provider: str
    calls: list[PlannedCall] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(c.images for c in self.calls)

    @property
    def estimated_cost(self) -> Decimal:
        return sum((c.estimated_cost for c in self.calls), Decimal("0"))


def _chunks(total: int, size: int):
    while total > 0:
        yield min(size, total)
        total -= size


def _prompt(character: Character, *parts: str) -> str:
    return reference_prompt(character.base_prompt, *parts)


def reference_prompt(base_prompt: str, *parts: str) -> str:
    return ", ".join(p.strip() for p in (base_prompt, *parts) if p and p.strip())


def reference_suite(*, base_prompt: str, trigger_word: str) -> list[tuple[str, str, int]]:
    """The reference shots as (shot, prompt, seed): what a reference set renders, and what
    the exported trainer configs sample, so both line up on the compare page."""
    return [
        (shot, reference_prompt(base_prompt, trigger_word, prompt), REFERENCE_SEEDS[shot])
        for shot, prompt in REFERENCE_SHOTS
    ]


def usable_provider(provider: str | None) -> str:
    """The provider a run goes to (the default when none is named), refused when unknown or
    not set up."""
    return require_provider(provider or settings.PROVIDER)


def add_calls(plan: Plan, task: str, label: str, count: int, inputs: dict, image: dict) -> None:
    """Add the calls that make `count` images, split to the model's images per call."""
    model = model_for(plan.provider, task)
    for n in _chunks(count, model.max_images):
        call_inputs = {**inputs, "num_images": n, "seed": random.randrange(1, 2**31)}
        plan.calls.append(PlannedCall(task, label, n, model.estimate(images=n), call_inputs, image))


def plan_run(
    *,
    character: Character,
    kind: str,
    provider: str | None = None,
    poses=None,
    variations=None,
    count: int | None = None,
    lora_id: int | None = None,
    mode: str = "image_to_image",
    like_image_id: int | None = None,
    lora_scale: float = 1.0,
    shots=None,
) -> Plan:
    """The calls a run would make, with their cost; nothing is saved.

    Variations are image-to-image edits of their pose's anchor (`mode="image_to_image"`) or
    multi-reference edits from the whole sheet (`mode="multi_reference"`, FLUX Kontext).
    `like_image_id` makes anchor candidates as light edits of one candidate ("more like this").
    A reference set renders `shots` (all five by default) with LoRA `lora_id` at `lora_scale`.
    """
    provider = usable_provider(provider)
    if count is not None and not 1 <= count <= 50:
        raise RunRefused("Ask for 1 to 50 images per pose or variation.")
    # An empty list is a mistake, not "all": leave the list out to mean all of them.
    if poses is not None and not poses:
        raise RunRefused("Choose at least one pose, or leave poses out to use all of them.")
    if variations is not None and not variations:
        raise RunRefused(
            "Choose at least one variation, or leave variations out to use all of them."
        )
    plan = Plan(kind=kind, provider=provider)
    if kind == GenerationRun.Kind.ANCHORS and like_image_id:
        _plan_more_like(plan, character, like_image_id, count or LIKE_COUNT)
    elif kind == GenerationRun.Kind.ANCHORS:
        _plan_anchors(plan, character, poses, count or DEFAULT_CANDIDATES)
    elif kind == GenerationRun.Kind.VARIATIONS:
        if mode not in VARIATION_MODES:
            raise RunRefused(f"Unknown mode “{mode}”: use {' or '.join(VARIATION_MODES)}.")
        _plan_variations(plan, character, variations, count, mode)
    elif kind == GenerationRun.Kind.REFERENCE_SET:
        _plan_reference_set(plan, character, lora_id, count or 1, lora_scale, shots)
    else:
        raise RunRefused(f"Unknown run kind “{kind}”.")
    if not plan.calls:
        raise RunRefused("This run would make no calls: choose at least one pose or variation.")
    if plan.images > MAX_IMAGES_PER_RUN:
        raise RunRefused(
            f"This run asks for {plan.images} images; the limit is {MAX_IMAGES_PER_RUN}."
        )
    return plan


def _plan_anchors(plan: Plan, character: Character, pose_keys, count: int) -> None:
    poses = list(character.poses.all())
    if pose_keys:
        unknown = set(pose_keys) - {p.key for p in poses}
        if unknown:
            raise RunRefused(f"{character} has no pose {', '.join(sorted(unknown))}.")
        poses = [p for p in poses if p.key in set(pose_keys)]
    for pose in poses:
        inputs = {
            "prompt": _prompt(character, pose.prompt),
            "negative_prompt": character.negative_prompt,
        }
        image = {"character_id": character.id, "kind": Image.Kind.CANDIDATE, "pose_id": pose.id}
        add_calls(plan, Task.TEXT_TO_IMAGE, f"{pose.label} candidates", count, inputs, image)


def _plan_more_like(plan: Plan, character: Character, image_id: int, count: int) -> None:
    like = character.images.select_related("pose").filter(id=image_id).first()
    if like is None or like.pose is None:
        raise RunRefused("“More like this” needs a candidate of one of this character's poses.")
    inputs = {
        "prompt": _prompt(character, like.pose.prompt),
        "image_url": file_ref(like.file.name),
        "strength": LIKE_STRENGTH,
    }
    image = {
        "character_id": character.id,
        "kind": Image.Kind.CANDIDATE,
        "pose_id": like.pose_id,
        "source_image_id": like.id,
    }
    add_calls(
        plan, Task.IMAGE_TO_IMAGE, f"More like #{like.id} ({like.pose.label})", count, inputs, image
    )


def _plan_variations(plan: Plan, character: Character, variation_keys, count, mode) -> None:
    specs = list(character.variations.select_related("anchor_pose"))
    if variation_keys:
        unknown = set(variation_keys) - {v.key for v in specs}
        if unknown:
            raise RunRefused(f"{character} has no variation {', '.join(sorted(unknown))}.")
        specs = [v for v in specs if v.key in set(variation_keys)]
    anchors = {
        a.pose_id: a.image
        for a in Anchor.objects.filter(character=character).select_related("image")
    }
    missing = sorted({v.anchor_pose.label for v in specs if v.anchor_pose_id not in anchors})
    if missing:
        raise RunRefused(
            f"Pick an anchor for {', '.join(missing)} first: variations are edited from the "
            "anchor of their pose."
        )
    sheet = [anchors[p.id] for p in character.poses.all() if p.id in anchors]
    for spec in specs:
        source = anchors[spec.anchor_pose_id]
        if mode == "multi_reference":
            # The closest anchor first, then the rest of the sheet for the character's identity.
            references = [source] + [a for a in sheet if a.id != source.id]
            inputs = {
                "prompt": _prompt(character, spec.prompt),
                "image_urls": [file_ref(a.file.name) for a in references[:MAX_REFERENCES]],
            }
            task = Task.MULTI_REFERENCE_EDIT
        else:
            inputs = {
                "prompt": _prompt(character, spec.prompt),
                "image_url": file_ref(source.file.name),
                "strength": float(spec.strength),
            }
            task = Task.IMAGE_TO_IMAGE
        image = {
            "character_id": character.id,
            "kind": Image.Kind.VARIATION,
            "pose_id": spec.anchor_pose_id,
            "variation_id": spec.id,
            "source_image_id": source.id,
        }
        add_calls(plan, task, spec.label, count or spec.count, inputs, image)


def _plan_reference_set(plan: Plan, character: Character, lora_id, count, scale, shots) -> None:
    from training.models import LoraModel

    lora = LoraModel.objects.filter(
        character=character, id=lora_id, status__in=LoraModel.USABLE
    ).first()
    if lora is None:
        raise RunRefused(
            "A reference set needs a ready or approved LoRA of this character (lora_id)."
        )
    if not 0 <= scale <= 2:
        raise RunRefused("The LoRA scale goes from 0 to 2 (1 is the trained strength).")
    known = dict(REFERENCE_SHOTS)
    if shots and set(shots) - set(known):
        unknown = ", ".join(sorted(set(shots) - set(known)))
        raise RunRefused(f"Unknown shot {unknown}: use {', '.join(known)}.")
    model = model_for(plan.provider, Task.LORA_TEXT_TO_IMAGE)
    if count > model.max_images:
        raise RunRefused(f"Ask for at most {model.max_images} images per reference shot.")
    for shot, prompt in REFERENCE_SHOTS:
        if shots and shot not in shots:
            continue
        inputs = {
            "prompt": _prompt(character, lora.trigger_word, prompt),
            "lora_url": file_ref(lora.weights.name),
            "lora_scale": float(scale),
            "num_images": count,
            "seed": REFERENCE_SEEDS[shot],
        }
        image = {
            "character_id": character.id,
            "kind": Image.Kind.REFERENCE,
            "shot": shot,
            "lora_id": lora.id,
            "lora_scale": float(scale),
        }
        label = f"Reference: {labels.label(shot)} (v{lora.version})"
        plan.calls.append(
            PlannedCall(
                Task.LORA_TEXT_TO_IMAGE, label, count, model.estimate(images=count), inputs, image
            )
        )


def launch_run(
    *, plan: Plan, character: Character, created_by: AbstractBaseUser | None, params: dict
) -> GenerationRun:
    """Save the run and its calls, reserving their cost in the budget; submitting starts once
    the transaction commits. A run above the lead-set threshold is saved held: its calls
    reserve their cost but are not sent until a lead approves (leads' own runs are not held).
    """
    what = f"This {GenerationRun.Kind(plan.kind).label.lower()} run"
    user = created_by if getattr(created_by, "is_authenticated", False) else None
    with budgets.launching(user=user, what=what, target=f"character:{character.slug}"):
        room = budgets.reserve(cost=plan.estimated_cost, user=user, what=what)
        held = budgets.needs_approval(cost=plan.estimated_cost, user=user, room=room)
        run = GenerationRun.objects.create(
            character=character,
            kind=plan.kind,
            status=GenerationRun.Status.HELD if held else GenerationRun.Status.PENDING,
            provider=plan.provider,
            params=params,
            estimated_cost=plan.estimated_cost,
            created_by=user,
        )
        status = ProviderCall.Status.HELD if held else ProviderCall.Status.CREATED
        ProviderCall.objects.bulk_create(
            ProviderCall(
                run=run,
                provider=plan.provider,
                task=c.task,
                status=status,
                endpoint=model_for(plan.provider, c.task).endpoint,
                context={
                    "purpose": c.purpose,
                    "label": c.label,
                    "inputs": c.inputs,
                    "image": c.image,
                },
                units=c.images,
                estimated_cost=c.estimated_cost,
                created_by=user,
            )
            for c in plan.calls
        )
        audit.record(
            Action.RUN_HELD if held else Action.RUN_LAUNCHED,
            f"{'held for approval' if held else 'launched'} {run} "
            f"({len(plan.calls)} calls, {budgets.money(plan.estimated_cost)})",
            actor=user,
            target=f"run:{run.id}",
            cost=plan.estimated_cost,
            detail={"provider": plan.provider, "kind": plan.kind},
        )
        if held:
            transaction.on_commit(lambda: _ask_leads(run))
        else:
            transaction.on_commit(lambda: calls.dispatch(plan.provider))
    return run


def _ask_leads(run: GenerationRun) -> None:
    # Notifications live in the training app (the in-app list and e-mail); imported here,
    # at the one place generation needs them.
    from training.notifications import run_awaits_approval

    run_awaits_approval(run)


def decide_run(
    *, run: GenerationRun, by: AbstractBaseUser, approve: bool, reason: str = ""
) -> None:
    """A lead approves a held run (its calls are sent) or declines it with a reason (they are
    canceled, costing nothing). The money was reserved at launch, under the budget's lock,
    so approving cannot pass a limit."""
    if not approve and not reason.strip():
        raise RunRefused("Say why the run is declined: the artist reads the reason.")
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().get(id=run.id)
        if run.status != GenerationRun.Status.HELD:
            raise Conflict(f"Run #{run.id} is not waiting for approval.")
        held = ProviderCall.objects.filter(run=run, status=ProviderCall.Status.HELD)
        cost = sum(held.values_list("estimated_cost", flat=True), Decimal("0"))
        if approve:
            held.update(status=ProviderCall.Status.CREATED, updated_at=timezone.now())
            run.status = GenerationRun.Status.PENDING
        else:
            held.update(
                status=ProviderCall.Status.CANCELED,
                actual_cost=Decimal("0"),
                error=f"Declined by {by.get_username()}: {reason}",
                finished_at=timezone.now(),
                updated_at=timezone.now(),
            )
            run.status = GenerationRun.Status.CANCELED
        run.decided_by, run.decision_reason = by, reason.strip()
        run.save(update_fields=["status", "decided_by", "decision_reason", "updated_at"])
        audit.record(
            Action.RUN_APPROVED if approve else Action.RUN_DECLINED,
            f"{'approved' if approve else 'declined'} {run} ({budgets.money(cost)})"
            + (f": {reason.strip()}" if reason.strip() else ""),
            actor=by,
            target=f"run:{run.id}",
            cost=cost,
        )
        transaction.on_commit(lambda: refresh_run(run.id))
        if approve:
            transaction.on_commit(lambda: calls.dispatch(run.provider))


def cancel_run(run: GenerationRun, *, by: AbstractBaseUser | None = None) -> None:
    """Stop a run: queued calls are never sent, calls at the provider are canceled there."""
    if run.status in (GenerationRun.Status.SUCCEEDED, GenerationRun.Status.FAILED):
        raise RunRefused("This run has already finished.")
    GenerationRun.objects.filter(id=run.id).update(status=GenerationRun.Status.CANCELED)
    calls.cancel_queued(run)
    for call_id in run.calls.exclude(status__in=ProviderCall.TERMINAL).values_list("id", flat=True):
        calls.cancel(call_id)  # at the provider (or on the wire): one at a time
    refresh_run(run.id)
    run.refresh_from_db(fields=["actual_cost", "estimated_cost"])
    audit.record(
        Action.RUN_CANCELED,
        f"canceled {run} (estimated {budgets.money(run.estimated_cost)}, "
        f"spent {budgets.money(run.actual_cost)})",
        actor=by,
        target=f"run:{run.id}",
        cost=run.actual_cost,
    )


def plan_retry(*, run: GenerationRun) -> Plan:
    """The calls that would send a run's failed calls again (fresh seeds), priced; saves nothing.

    Launched with `launch_run`, they make a new run: the failed run stays as it was, a record
    of what was paid for and what went wrong.
    """
    failed = list(run.calls.filter(status=ProviderCall.Status.FAILED).order_by("created_at"))
    if not failed:
        raise RunRefused("This run has no failed calls to send again.")
    plan = Plan(kind=run.kind, provider=require_provider(run.provider))
    for call in failed:
        context = call.context or {}
        if context.get("purpose") != "images" or "inputs" not in context:
            raise RunRefused("Only image calls can be sent again from here.")
        images = int(call.units)
        model = model_for(run.provider, call.task)
        inputs = {**context["inputs"], "seed": random.randrange(1, 2**31)}
        plan.calls.append(
            PlannedCall(
                call.task,
                context.get("label", ""),
                images,
                model.estimate(images=images),
                inputs,
                context.get("image", {}),
            )
        )
    return plan
