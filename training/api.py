"""Training, LoRA, pin and outgoing-webhook endpoints of the JSON API (ARCHITECTURE.md)."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from characters.models import Character
from generation import budgets
from lorastudio.api_errors import Error
from lorastudio.errors import Refusal
from lorastudio.idempotency import OPENAPI as IDEMPOTENT
from lorastudio.idempotency import idempotent

from . import likeness, loras, outgoing, pins, selectors, services
from .models import TrainingJob, TrainingPreset, WebhookDelivery, WebhookEndpoint

router = Router(tags=["training"])


# --- Training jobs -------------------------------------------------------------------------
class TrainingIn(Schema):
    export_id: str
    provider: Literal["local", "fal", "replicate"]
    preset: str | None = None
    saved_preset_id: int | None = None
    steps: int | None = None
    learning_rate: Decimal | None = None
    rank: int | None = None
    resolution: str | None = None
    batch_size: int | None = None
    dry_run: bool = False


class TrainingPlanOut(Schema):
    dry_run: bool = True
    export_id: str
    character: str
    provider: str
    endpoint: str
    preset: str
    # What is sent: a setting the provider's trainer does not take is null (listed in
    # `not_sent`); `notes` say what was clamped to the provider's limits, `warnings` what it
    # recommends (e.g. a minimum image count).
    steps: int
    learning_rate: Decimal | None
    rank: int | None
    resolution: str | None
    batch_size: int | None
    not_sent: list[str] = []
    notes: list[str] = []
    warnings: list[str] = []
    estimated_cost: Decimal
    estimated_seconds: int
    price: str
    left_this_month: Decimal | None = Field(
        None, description="What the budget leaves you this month (null: no limit)."
    )


class LoraRef(Schema):
    id: int
    version: int
    status: str


class SampleOut(Schema):
    step: int
    shot: str
    url: str


class TrainingJobOut(Schema):
    id: int
    character: str
    export_id: str
    provider: str
    preset: str
    status: str
    call_status: str | None
    steps: int
    learning_rate: Decimal | None  # null: not sent, the provider's trainer sets it itself
    rank: int | None
    resolution: str | None
    batch_size: int | None
    trigger_word: str
    progress: int
    step: int | None
    eta_seconds: int | None
    elapsed_seconds: int | None
    logs: str
    error: str
    estimated_cost: Decimal
    estimated_seconds: int
    actual_cost: Decimal | None
    lora: LoraRef | None
    samples: list[SampleOut] = Field(
        description="The reference suite as the trainer rendered it while training, by step."
    )
    loss: list[tuple[int, float]] = Field(
        description="(step, loss) from the trainer's log lines, where they carry the loss."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_character(job):
        return job.character.slug

    @staticmethod
    def resolve_export_id(job):
        return str(job.export_id)

    @staticmethod
    def resolve_call_status(job):
        return job.call.status if job.call else None

    @staticmethod
    def resolve_lora(job):
        return selectors.lora_of_job(job)

    @staticmethod
    def resolve_samples(job, context):
        return [
            {"step": s.step, "shot": s.shot, "url": _absolute(context["request"], s.image.url)}
            for s in job.samples.all()
        ]

    @staticmethod
    def resolve_loss(job):
        return selectors.loss_of(job)


def _job(job_id: int) -> TrainingJob:
    services.sync_job(get_object_or_404(TrainingJob, id=job_id).id)
    return selectors.job_detail(job_id)


@router.get("/training-jobs", response=list[TrainingJobOut])
@paginate
def list_training_jobs(request, character: str | None = None):
    """Training jobs, newest first (optionally of one character's slug), paginated."""
    owner = get_object_or_404(Character, slug=character) if character else None
    return selectors.jobs_list(character=owner)


@router.post(
    "/training-jobs",
    response={201: TrainingJobOut, 200: TrainingPlanOut, 400: Error, 404: Error},
    openapi_extra=IDEMPOTENT,
)
@decorate_view(idempotent)
def start_training(request, payload: TrainingIn):
    """Train a LoRA on a ready export, or with `dry_run` see the settings, cost and time."""
    export = get_object_or_404(selectors.exports(), id=payload.export_id)
    saved = (
        get_object_or_404(TrainingPreset, id=payload.saved_preset_id)
        if payload.saved_preset_id
        else None
    )
    plan = services.plan_training(
        export=export,
        provider=payload.provider,
        preset=payload.preset,
        saved_preset=saved,
        steps=payload.steps,
        learning_rate=payload.learning_rate,
        rank=payload.rank,
        resolution=payload.resolution,
        batch_size=payload.batch_size,
    )
    if payload.dry_run:
        return Status(
            200,
            {
                "export_id": str(export.id),
                "character": plan.character.slug,
                "provider": plan.provider,
                "endpoint": plan.endpoint,
                "preset": plan.preset,
                **{key: plan.sent.get(key) for key in plan.params.as_dict()},
                "not_sent": plan.not_sent,
                "notes": list(plan.notes),
                "warnings": list(plan.warnings),
                "estimated_cost": plan.estimate.cost,
                "estimated_seconds": plan.estimate.seconds,
                "price": plan.estimate.price_note,
                "left_this_month": budgets.headroom(user=request.user).left,
            },
        )
    job = services.launch_training(plan=plan, created_by=request.user)
    return Status(201, _job(job.id))


@router.get("/training-jobs/{job_id}", response=TrainingJobOut)
def get_training_job(request, job_id: int):
    return _job(job_id)


@router.post("/training-jobs/{job_id}/cancel", response={200: TrainingJobOut, 409: Error})
def cancel_training_job(request, job_id: int):
    services.cancel_training(job=get_object_or_404(TrainingJob, id=job_id))
    return _job(job_id)


# --- LoRA versions -------------------------------------------------------------------------
class LoraLikenessOut(Schema):
    overall: float | None
    per_shot: dict[str, float]
    measure: str


class LoraOut(Schema):
    id: int
    character: str
    version: int
    status: str
    trigger_word: str
    training_job_id: int | None
    export_id: str | None
    weights_url: str | None
    config_url: str | None
    size_bytes: int
    sha256: str
    approved_at: datetime | None
    retired_at: datetime | None
    created_at: datetime
    likeness: LoraLikenessOut | None = Field(
        None,
        description="Its reference set's likeness to the sheet (or the pin): per shot and "
        "overall (0–1, higher is more alike), by one measure; null before any is measured.",
    )

    @staticmethod
    def resolve_likeness(lora):
        summary = getattr(lora, "likeness_summary", None)
        if summary is None:
            summary = likeness.by_lora([lora])[lora.id]
        return summary.as_api()

    @staticmethod
    def resolve_character(lora):
        return lora.character.slug

    @staticmethod
    def resolve_export_id(lora):
        return str(lora.export_id) if lora.export_id else None

    @staticmethod
    def resolve_weights_url(lora, context):
        return _absolute(context["request"], lora.weights.url) if lora.weights else None

    @staticmethod
    def resolve_config_url(lora, context):
        return _absolute(context["request"], lora.config_file.url) if lora.config_file else None


def _absolute(request, url: str) -> str:
    return url if url.startswith("http") else request.build_absolute_uri(url)


@router.get("/characters/{slug}/loras", response=list[LoraOut])
def list_loras(request, slug: str):
    """The character's trained LoRA versions, newest first, with signed weight links."""
    character = get_object_or_404(Character, slug=slug)
    versions = list(selectors.loras_of(character))
    summaries = likeness.by_lora(versions)
    for lora in versions:
        lora.likeness_summary = summaries[lora.id]
    return versions


@router.post("/loras/{lora_id}/approve", response={200: LoraOut, 409: Error})
def approve_lora(request, lora_id: int):
    lora = get_object_or_404(selectors.loras(), id=lora_id)
    return loras.approve_lora(lora=lora, user=request.user)


@router.post("/loras/{lora_id}/retire", response={200: LoraOut, 409: Error})
def retire_lora(request, lora_id: int):
    lora = get_object_or_404(selectors.loras(), id=lora_id)
    return loras.retire_lora(lora=lora)


# --- Pins ----------------------------------------------------------------------------------
class PinIn(Schema):
    primary_image_id: int
    reference_image_ids: list[int] = []
    roles: dict[str, str] | list[str] | None = None
    lora_id: int | None = None
    lora_scale: Decimal | None = None
    note: str = ""


class PinImageOut(Schema):
    image_id: int
    role: str
    url: str
    width: int | None
    height: int | None
    kind: str


class PinLoraOut(Schema):
    id: int
    version: int
    status: str
    scale: float = Field(description="The LoRA scale, a number from 0 to 2.")
    weights_url: str
    sha256: str


class PinOut(Schema):
    character: str
    name: str
    trigger_word: str
    version: int
    pinned_at: datetime
    pinned_by: str | None
    note: str
    primary: PinImageOut
    references: list[PinImageOut]
    lora: PinLoraOut | None
    pack_status: str = Field(
        description="building (a worker is writing the pack), ready (pack_url set) or failed"
    )
    pack_url: str | None
    links_expire_in: int = Field(description="Seconds until every link in this answer expires.")
    links_expire_at: datetime


class CharacterNotFound(Refusal):
    status_code = 404


def _character(slug: str) -> Character:
    character = selectors.character_by_slug(slug)
    if character is None:
        raise CharacterNotFound(
            f"There is no character “{slug}”: GET /api/characters lists their slugs."
        )
    return character


def _pin_response(request, pin, status: int = 200):
    window = pins.link_window()
    document = pins.pin_document(pin, absolute=request.build_absolute_uri, window=window)
    response = JsonResponse(PinOut(**document).model_dump(mode="json"), status=status)
    response["ETag"] = pins.etag(pin, window)
    response["Cache-Control"] = "private, no-cache"
    return response


@router.get("/characters/{slug}/pin", response={200: PinOut, 304: None, 404: Error})
def get_pin(request, slug: str):
    """The current pin for downstream pipelines. Send `If-None-Match` with the last `ETag`
    to get a bodiless 304 while nothing changed and the links you hold stay good for at
    least half an hour; past that the tag changes and the answer brings fresh links. Links
    are signed and work without a login."""
    character = _character(slug)
    pin = pins.current_pin(character)
    if pin is None:
        return Status(
            404,
            {
                "detail": f"{character.name} has no pin yet: pin it on its Training & pin page "
                f"or with PUT /api/characters/{slug}/pin."
            },
        )
    window = pins.link_window()
    if pins.etag_matches(request.headers.get("If-None-Match", ""), pin, window):
        response = HttpResponse(status=304)
        response["ETag"] = pins.etag(pin, window)
        return response
    return _pin_response(request, pin)


@router.put("/characters/{slug}/pin", response={200: PinOut, 201: PinOut, 400: Error, 404: Error})
def put_pin(request, slug: str, payload: PinIn):
    """Make a new pin version (the same pin again changes nothing and answers 200)."""
    character = _character(slug)
    pin, created = pins.pin_character(
        character=character,
        primary_image_id=payload.primary_image_id,
        reference_image_ids=payload.reference_image_ids,
        roles=payload.roles,
        lora_id=payload.lora_id,
        lora_scale=payload.lora_scale,
        note=payload.note,
        pinned_by=request.user,
    )
    return _pin_response(request, pin, status=201 if created else 200)


@router.get("/characters/{slug}/pins", response={200: list[PinOut], 404: Error})
def list_pins(request, slug: str):
    """Every pin version of the character, newest first."""
    character = _character(slug)
    return [
        pins.pin_document(pin, absolute=request.build_absolute_uri)
        for pin in selectors.pins_of(character)
    ]


# --- Outgoing webhooks ---------------------------------------------------------------------
class WebhookEndpointIn(Schema):
    url: str
    events: list[str] = []
    description: str = ""


class DeliveryOut(Schema):
    id: str
    event_type: str
    status: str
    attempts: int
    response_status: int | None
    error: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None

    @staticmethod
    def resolve_id(delivery):
        return str(delivery.id)


class WebhookEndpointOut(Schema):
    id: int
    url: str
    description: str
    events: list[str]
    active: bool
    created_at: datetime
    deliveries: list[DeliveryOut]

    @staticmethod
    def resolve_deliveries(endpoint):
        return selectors.deliveries_of(endpoint)


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret: str


@router.get("/webhook-endpoints", response=list[WebhookEndpointOut])
def list_webhook_endpoints(request):
    """Registered endpoints, each with its 20 latest deliveries."""
    return list(selectors.endpoints_with_latest_deliveries())


@router.post(
    "/webhook-endpoints", response={201: WebhookEndpointCreatedOut, 400: Error, 409: Error}
)
def create_webhook_endpoint(request, payload: WebhookEndpointIn):
    """Register a URL for `pin.changed` and `training.ended` (all when `events` is empty).
    The answer holds the signing secret (Standard Webhooks `whsec_...`)."""
    endpoint = outgoing.create_endpoint(
        url=payload.url,
        events=payload.events,
        description=payload.description,
        created_by=request.user,
    )
    return Status(201, endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", response={204: None, 404: Error})
def delete_webhook_endpoint(request, endpoint_id: int):
    outgoing.delete_endpoint(endpoint=get_object_or_404(WebhookEndpoint, id=endpoint_id))
    return Status(204, None)


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    response={200: DeliveryOut},
    openapi_extra=IDEMPOTENT,
)
@decorate_view(idempotent)
def redeliver_webhook(request, delivery_id: str):
    return outgoing.redeliver(delivery=get_object_or_404(WebhookDelivery, id=delivery_id))
