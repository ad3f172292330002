"""Run endpoints of the JSON API: launch (or price) a run, follow it, cancel it."""

import csv
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view

from characters.selectors import characters
from lorastudio.api_errors import Error
from lorastudio.errors import Refusal
from lorastudio.idempotency import OPENAPI as IDEMPOTENT
from lorastudio.idempotency import idempotent

from . import budgets, calls, embeddings, runs, selectors, usage
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
    left_this_month: Decimal | None = Field(
        None, description="What the budget leaves you this month (null: no limit)."
    )
    needs_approval: bool = False


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


def plan_out(plan, user) -> dict:
    """A dry run's answer (PlanOut): the calls a launch would make, their cost, and what the
    budget would leave."""
    return {
        **budgets.for_dry_run(user=user, cost=plan.estimated_cost),
        "kind": plan.kind,
        "provider": plan.provider,
        "calls": plan.calls,
        "call_count": len(plan.calls),
        "images": plan.images,
        "estimated_cost": plan.estimated_cost,
    }


def _run(run_id: int) -> GenerationRun:
    return get_object_or_404(selectors.runs_in_full(), id=run_id)


@router.post(
    "/characters/{slug}/runs",
    response={201: RunOut, 200: PlanOut, 400: Error, 402: Error},
    openapi_extra=IDEMPOTENT,
)
@decorate_view(idempotent)
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
        return Status(200, plan_out(plan, request.user))
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


@router.post(
    "/characters/{slug}/likeness-runs",
    response={201: RunOut, 200: PlanOut, 400: Error, 402: Error},
    openapi_extra=IDEMPOTENT,
)
@decorate_view(idempotent)
def launch_likeness_run(request, slug: str, payload: LikenessRunIn):
    """Whole-figure likeness: one priced image-embedding call per image without a figure
    vector (Replicate's CLIP features); with `dry_run`, the calls and their cost only."""
    character = get_object_or_404(characters(), slug=slug)
    plan = embeddings.plan_embeddings(character=character, provider=payload.provider)
    if payload.dry_run:
        return Status(200, plan_out(plan, request.user))
    run = embeddings.launch_embeddings(character=character, plan=plan, created_by=request.user)
    return Status(201, _run(run.id))


@router.get("/runs/{run_id}", response=RunOut)
def get_run(request, run_id: int):
    return _run(run_id)


@router.post("/runs/{run_id}/cancel", response={200: RunOut, 409: Error})
def cancel_run(request, run_id: int):
    runs.cancel_run(get_object_or_404(selectors.runs(), id=run_id), by=request.user)
    return _run(run_id)


@router.post(
    "/calls/{call_id}/retry", response={200: CallOut, 409: Error}, openapi_extra=IDEMPOTENT
)
@decorate_view(idempotent)
def retry_call(request, call_id: UUID):
    """Send a call whose outcome is unknown again: the user accepts it may be paid twice."""
    call = get_object_or_404(selectors.calls(), id=call_id)
    calls.retry_unknown(call.id, by=request.user)
    call.refresh_from_db()
    return call


class ApprovalIn(Schema):
    approve: bool
    reason: str = Field("", max_length=500)


@router.post("/runs/{run_id}/approval", response={200: RunOut, 400: Error, 409: Error})
def decide_run(request, run_id: int, payload: ApprovalIn):
    """Approve a run waiting for a lead (its calls are sent), or decline it with a reason."""
    run = get_object_or_404(selectors.runs(), id=run_id)
    runs.decide_run(run=run, by=request.user, approve=payload.approve, reason=payload.reason)
    return _run(run_id)


# --- Budgets and usage -----------------------------------------------------------------
Money = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=4)]


class UserBudgetOut(Schema):
    username: str
    monthly_limit: Decimal | None
    spent: Decimal
    reserved: Decimal


class BudgetOut(Schema):
    month: str
    monthly_limit: Decimal | None
    per_run_cap: Decimal | None
    approval_threshold: Decimal | None
    spent: Decimal
    reserved: Decimal
    left: Decimal | None
    users: list[UserBudgetOut]


class UserBudgetIn(Schema):
    username: Annotated[str, Field(max_length=150)]
    monthly_limit: Money | None


class BudgetIn(Schema):
    monthly_limit: Money | None = None
    per_run_cap: Money | None = None
    approval_threshold: Money | None = None
    users: Annotated[list[UserBudgetIn], Field(max_length=1000)] | None = None


def _budget_out() -> dict:
    state = selectors.budget_state()
    return {
        "month": f"{state.month:%Y-%m}",
        "monthly_limit": state.room.monthly_limit,
        "per_run_cap": state.room.per_run_cap,
        "approval_threshold": state.room.approval_threshold,
        "spent": state.room.installation.spent,
        "reserved": state.room.installation.reserved,
        "left": state.left,
        "users": [
            {
                "username": u.username,
                "monthly_limit": u.monthly_limit,
                "spent": u.spent,
                "reserved": u.reserved,
            }
            for u in state.users
        ],
    }


@router.get("/budgets", response=BudgetOut, tags=["budgets"])
def get_budgets(request):
    """The installation's budget this month, and each login's limit and spending (USD)."""
    return _budget_out()


@router.put("/budgets", response={200: BudgetOut, 400: Error}, tags=["budgets"])
def put_budgets(request, payload: BudgetIn):
    """Set any of `monthly_limit`, `per_run_cap`, `approval_threshold` (null: no limit) and
    the `users`' monthly limits; fields left out stay as they are."""
    given = payload.dict(exclude_unset=True)
    budgets.set_budget(
        by=request.user,
        **{
            k: given[k]
            for k in ("monthly_limit", "per_run_cap", "approval_threshold")
            if k in given
        },
        users={u["username"]: u["monthly_limit"] for u in given.get("users") or []},
    )
    return _budget_out()


class UsageRowOut(Schema):
    key: str
    spent: Decimal
    reserved: Decimal
    calls: int


class UsageOut(Schema):
    month: str
    spent: Decimal
    reserved: Decimal
    by_user: list[UsageRowOut]
    by_character: list[UsageRowOut]
    by_provider: list[UsageRowOut]
    approved_images: int
    cost_per_approved_image: Decimal | None
    trained_versions: int
    cost_per_trained_version: Decimal | None


def _usage(month: str | None) -> usage.Usage:
    try:
        return usage.usage_for(usage.parse_month(month))
    except usage.BadMonth as exc:
        raise Refusal(str(exc)) from None


@router.get("/usage", response={200: UsageOut, 400: Error}, tags=["budgets"])
def get_usage(request, month: Annotated[str, Field(max_length=7)] | None = None):
    """Spending of a month (`?month=YYYY-MM`, this month by default): actual and reserved, by
    user, character and provider."""
    u = _usage(month)
    return {
        "month": f"{u.month:%Y-%m}",
        "spent": u.spent,
        "reserved": u.reserved,
        "by_user": u.by_user,
        "by_character": u.by_character,
        "by_provider": u.by_provider,
        "approved_images": u.approved_images,
        "cost_per_approved_image": u.per_approved_image,
        "trained_versions": u.trained_versions,
        "cost_per_trained_version": u.per_trained_version,
    }


@router.get("/usage.csv", tags=["budgets"], response={200: None, 400: Error})
def get_usage_csv(request, month: Annotated[str, Field(max_length=7)] | None = None):
    """The same as CSV: one line per month, cut (user, character, provider) and key."""
    u = _usage(month)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="usage-{u.month:%Y-%m}.csv"'
    csv.writer(response).writerows(usage.csv_rows(u))
    return response
