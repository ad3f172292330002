"""Run endpoints of the JSON API: launch (or price) a run, follow it, cancel it."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from characters.selectors import characters

from . import calls, embeddings, runs, selectors
from .models import GenerationRun

router = Router(tags=["runs"])


Key = Annotated[str, Field(max_length=60)]
ObjectId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class RunIn(Schema):
    kind: Literal["anchors", "variations", "reference_set"]
    provider: Literal["local", "fal", "replicate"] | None = None
    poses: Annotated[list[Key], Field(max_length=200)] | None = None
    variations: Annotated[list[Key], Field(max_length=200)] | None = None
    count: int | None = Field(None, ge=1, le=50)
    lora_id: ObjectId | None = None
    mode: Literal["image_to_image", "multi_reference"] = "image_to_image"
    like_image_id: ObjectId | None = None
    lora_scale: float = Field(1.0, ge=0, le=2)
    shots: Annotated[list[Key], Field(max_length=10)] | None = None
    dry_run: bool = False


class PlannedCallOut(Schema):
    task: str
    label: str
    images: int
    estimated_cost: Decimal


class PlanOut(Schema):
    dry_run: bool = True
    kind: str
    provider: str
    calls: list[PlannedCallOut]
    call_count: int
    images: int
    estimated_cost: Decimal


class CallOut(Schema):
    id: str
    task: str
    label: str
    status: str
    external_id: str
    progress: int
    error: str
    estimated_cost: Decimal
    actual_cost: Decimal | None
    images: list[int]

    @staticmethod
    def resolve_id(call):
        return str(call.id)

    @staticmethod
    def resolve_label(call):
        return call.context.get("label", "")

    @staticmethod
    def resolve_images(call):
        return [image.id for image in call.images.all()]


class RunOut(Schema):
    id: int
    character: str
    kind: str
    provider: str
    status: str
    error: str
    estimated_cost: Decimal
    actual_cost: Decimal
    calls_by_status: dict[str, int]
    images: int
    created_at: datetime
    finished_at: datetime | None
    calls: list[CallOut]

    @staticmethod
    def resolve_character(run):
        return run.character.slug

    @staticmethod
    def resolve_calls_by_status(run):
        return selectors.calls_by_status(run)

    @staticmethod
    def resolve_images(run):
        return sum(len(call.images.all()) for call in run.calls.all())


class Error(Schema):
    detail: str | dict | list


def _run(run_id: int) -> GenerationRun:
    return get_object_or_404(selectors.runs_in_full(), id=run_id)


@router.post("/characters/{slug}/runs", response={201: RunOut, 200: PlanOut, 400: Error})
def launch_run(request, slug: str, payload: RunIn):
    """Launch a run, or with `dry_run` get the calls it would make and their cost."""
    character = get_object_or_404(characters(), slug=slug)
    plan = runs.plan_run(
        character=character,
        kind=payload.kind,
        provider=payload.provider,
        poses=payload.poses,
        variations=payload.variations,
        count=payload.count,
        lora_id=payload.lora_id,
        mode=payload.mode,
        like_image_id=payload.like_image_id,
        lora_scale=payload.lora_scale,
        shots=payload.shots,
    )
    if payload.dry_run:
        return Status(
            200,
            {
                "kind": plan.kind,
                "provider": plan.provider,
                "calls": plan.calls,
                "call_count": len(plan.calls),
                "images": plan.images,
                "estimated_cost": plan.estimated_cost,
            },
        )
    run = runs.launch_run(
        plan=plan,
        character=character,
        created_by=request.user,
        params=payload.dict(exclude={"dry_run"}, exclude_none=True),
    )
    return Status(201, _run(run.id))


class LikenessRunIn(Schema):
    provider: Literal["local", "fal", "replicate"] = "replicate"
    dry_run: bool = False


@router.post("/characters/{slug}/likeness-runs", response={201: RunOut, 200: PlanOut, 400: Error})
def launch_likeness_run(request, slug: str, payload: LikenessRunIn):
    """Whole-figure likeness: one priced image-embedding call per image without a figure
    vector (Replicate's CLIP features); with `dry_run`, the calls and their cost only."""
    character = get_object_or_404(characters(), slug=slug)
    plan = embeddings.plan_embeddings(character=character, provider=payload.provider)
    if payload.dry_run:
        return Status(
            200,
            {
                "kind": plan.kind,
                "provider": plan.provider,
                "calls": plan.calls,
                "call_count": len(plan.calls),
                "images": plan.images,
                "estimated_cost": plan.estimated_cost,
            },
        )
    run = embeddings.launch_embeddings(character=character, plan=plan, created_by=request.user)
    return Status(201, _run(run.id))


@router.get("/runs/{run_id}", response=RunOut)
def get_run(request, run_id: int):
    return _run(run_id)


@router.post("/runs/{run_id}/cancel", response={200: RunOut, 409: Error})
def cancel_run(request, run_id: int):
    runs.cancel_run(get_object_or_404(selectors.runs(), id=run_id))
    return _run(run_id)


@router.post("/calls/{call_id}/retry", response={200: CallOut, 409: Error})
def retry_call(request, call_id: UUID):
    """Send a call whose outcome is unknown again: the user accepts it may be paid twice."""
    call = get_object_or_404(selectors.calls(), id=call_id)
    calls.retry_unknown(call.id)
    call.refresh_from_db()
    return call
