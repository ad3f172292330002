"""Dataset endpoints of the JSON API: datasets, items, balance, captions, exports."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.http import Http404
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view

from characters.api import LikenessOut
from characters.models import CAPTION_MAX_LENGTH, Character
from characters.selectors import likeness_of
from generation.api import PlanOut, RunOut, plan_out
from generation.api import _run as run_out
from lorastudio.api_errors import Error
from lorastudio.idempotency import OPENAPI as IDEMPOTENT
from lorastudio.idempotency import idempotent
from lorastudio.media import signed_media_url

from . import captioning, exports, gaps, selectors, services
from .balance import balance_report
from .models import Dataset, DatasetExport

router = Router(tags=["datasets"])


class ItemOut(Schema):
    id: int
    image_id: int
    kind: str
    thumbnail_url: str
    caption: str
    rendered_caption: str
    shot_type: str
    shot_source: str
    face_ratio: Decimal | None
    pose: str | None
    concepts: list[str]
    included: bool
    order: int
    likeness: LikenessOut | None = Field(
        None, description="The image's likeness, as on /api/images."
    )

    @staticmethod
    def resolve_likeness(item):
        return likeness_of(item)

    @staticmethod
    def resolve_kind(item):
        return item.image.kind

    @staticmethod
    def resolve_thumbnail_url(item):
        return item.image.thumbnail_url

    @staticmethod
    def resolve_rendered_caption(item):
        return selectors.rendered_caption(item.dataset, item)

    @staticmethod
    def resolve_shot_type(item):
        return item.image.shot_type

    @staticmethod
    def resolve_shot_source(item):
        return item.image.shot_source

    @staticmethod
    def resolve_face_ratio(item):
        return item.image.face_ratio

    @staticmethod
    def resolve_pose(item):
        return item.image.pose.key if item.image.pose_id else None


class GapOut(Schema):
    count: int
    shot: str
    pose: str


class ExclusionOut(Schema):
    count: int
    shot: str


class WarningOut(Schema):
    code: str
    level: str
    message: str
    action: str
    gap: GapOut | None = Field(description="An “add” step of the plan: what fill-gap makes.")
    exclude: ExclusionOut | None = Field(
        None, description="An “exclude” step of the plan: how many images of a shot type."
    )


class OutlierOut(Schema):
    item_id: int
    image_id: int
    flag: str
    reason: str
    distance: float | None


class IdentityOut(Schema):
    measure: str | None
    measured: int
    unmeasured: int
    median_distance: float | None
    max_distance: float | None
    spread: float | None
    reference: str | None
    outliers: list[OutlierOut]
    reference_images: int  # included anchors and pinned images: the reference, never outliers
    bulk_exclude: bool  # false under the rough measure: look at each outlier instead


class BalanceOut(Schema):
    total: int
    by_shot: dict[str, int]
    by_pose: dict[str, int]
    by_source: dict[str, int]
    by_concept: list[dict]
    warnings: list[WarningOut]
    identity: IdentityOut | None = None


class CaptionWarningOut(Schema):
    item_id: int
    image_id: int
    message: str


class DatasetSummaryOut(Schema):
    id: int
    character: str
    name: str
    notes: str
    caption_template: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_character(dataset):
        return dataset["character"] if isinstance(dataset, dict) else dataset.character.slug


class DatasetOut(DatasetSummaryOut):
    items: list[ItemOut]
    balance: BalanceOut
    caption_warnings: list[CaptionWarningOut]


class DatasetIn(Schema):
    name: str | None = Field(
        None, max_length=100, description="Leave out for the next free “<character> set N”."
    )
    caption_template: str | None = None
    notes: str = ""


class DatasetPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    caption_template: str | None = None
    notes: str | None = None


class ItemsIn(Schema):
    image_ids: list[int] = Field(..., min_length=1, max_length=500)


class ItemPatch(Schema):
    caption: Annotated[str, Field(max_length=CAPTION_MAX_LENGTH)] | None = None
    included: bool | None = None
    shot_type: Literal["close", "mid", "far", "unknown"] | None = None


class ReplaceIn(Schema):
    find: str = Field(..., min_length=1, max_length=200)
    replace: str = Field("", max_length=200)
    match_case: bool = True
    dry_run: bool = True


class ReplacementOut(Schema):
    item_id: int
    before: str
    after: str
    occurrences: int


class ReplaceOut(Schema):
    dry_run: bool
    items: int
    occurrences: int
    changes: list[ReplacementOut]


class CaptionRunIn(Schema):
    provider: Literal["local", "fal", "replicate"] | None = None
    overwrite: bool = False
    scope: Literal["uploads", "uncaptioned"] = Field(
        "uploads",
        description="uploads: the uploads without a caption; uncaptioned: every included "
        "image without a caption, of any kind.",
    )
    dry_run: bool = False


class GapIn(Schema):
    shot: Literal["close", "mid", "far"] | None = None
    pose: str | None = None
    count: int = Field(3, ge=1, le=20)
    provider: Literal["local", "fal", "replicate"] | None = None
    dry_run: bool = False


class GapSourceOut(Schema):
    anchor_image_id: int
    anchor_pose: str
    source: str = Field(description="How the picture sent for editing was made from the anchor.")
    prompt: str
    strength: Decimal


class GapPlanOut(PlanOut):
    gap: GapSourceOut


class ExportIn(Schema):
    resolution: int = Field(1024, ge=256, le=4096)
    accept_warnings: bool = Field(
        False,
        description="Export even with empty captions, captions without the trigger word "
        "exactly once, or unknown shot types. Without it such an export is a 400 whose "
        "`warnings` list them (code, message, image_ids).",
    )


class ExportOut(Schema):
    id: str
    dataset_id: int
    status: str
    image_count: int
    resolution: int
    size_bytes: int
    sha256: str
    error: str
    download_url: str | None
    created_at: datetime

    @staticmethod
    def resolve_id(export):
        return str(export.id)

    @staticmethod
    def resolve_download_url(export):
        if export.status != DatasetExport.Status.READY:
            return None
        return signed_media_url(export.archive.name, absolute=True)


def _dataset(dataset_id: int) -> Dataset:
    return get_object_or_404(selectors.datasets(), id=dataset_id)


def _detail(dataset: Dataset) -> dict:
    items = list(selectors.dataset_items(dataset))
    for item in items:
        item.dataset = dataset  # one character row for every rendered caption
    return {
        "id": dataset.id,
        "character": dataset.character.slug,
        "name": dataset.name,
        "notes": dataset.notes,
        "caption_template": dataset.caption_template,
        "created_at": dataset.created_at,
        "updated_at": dataset.updated_at,
        "items": items,
        "balance": balance_report(dataset, items),
        "caption_warnings": selectors.caption_warnings(dataset, items),
    }


@router.get("/characters/{slug}/datasets", response=list[DatasetSummaryOut])
def list_datasets(request, slug: str):
    return selectors.datasets_of(get_object_or_404(Character, slug=slug))


@router.post("/characters/{slug}/datasets", response={201: DatasetOut, 400: Error, 409: Error})
def create_dataset(request, slug: str, payload: DatasetIn):
    """A new dataset: the approved images (approved uploads too) and every anchor."""
    character = get_object_or_404(Character, slug=slug)
    dataset = services.create_dataset(
        character=character,
        name=payload.name,
        caption_template=payload.caption_template,
        notes=payload.notes,
        created_by=request.user,
    )
    return Status(201, _detail(dataset))


@router.get("/datasets/{dataset_id}", response=DatasetOut)
def get_dataset(request, dataset_id: int):
    """The dataset, its items and its balance report with warnings."""
    return _detail(_dataset(dataset_id))


@router.patch("/datasets/{dataset_id}", response={200: DatasetOut, 400: Error, 409: Error})
def patch_dataset(request, dataset_id: int, payload: DatasetPatch):
    dataset = services.update_dataset(
        dataset=_dataset(dataset_id), **payload.dict(exclude_unset=True)
    )
    return _detail(dataset)


@router.post("/datasets/{dataset_id}/items", response={200: DatasetOut, 400: Error})
def add_items(request, dataset_id: int, payload: ItemsIn):
    """Add `image_ids` (images of the dataset's character); ones already in it are skipped."""
    dataset = _dataset(dataset_id)
    services.add_images(dataset=dataset, image_ids=payload.image_ids)
    return _detail(dataset)


@router.patch("/dataset-items/{item_id}", response={200: ItemOut, 400: Error})
def patch_item(request, item_id: int, payload: ItemPatch):
    """Edit the caption, include or exclude, or set the shot type by hand."""
    item = get_object_or_404(selectors.dataset_items_by_id(), id=item_id)
    return services.update_item(item=item, **payload.dict(exclude_unset=True))


@router.post("/datasets/{dataset_id}/replace", response={200: ReplaceOut, 400: Error})
def find_and_replace(request, dataset_id: int, payload: ReplaceIn):
    """Find and replace over the captions: `dry_run` (the default) counts, else applies."""
    changes = services.find_and_replace(
        dataset=_dataset(dataset_id),
        find=payload.find,
        replace=payload.replace,
        match_case=payload.match_case,
        apply=not payload.dry_run,
    )
    return {
        "dry_run": payload.dry_run,
        "items": len(changes),
        "occurrences": sum(c.occurrences for c in changes),
        "changes": changes,
    }


@router.post(
    "/datasets/{dataset_id}/captions",
    response={201: RunOut, 200: PlanOut, 400: Error},
    openapi_extra=IDEMPOTENT,
)
@decorate_view(idempotent)
def caption_run(request, dataset_id: int, payload: CaptionRunIn):
    """Caption the uploads without a caption (or, `scope: uncaptioned`, every included image
    without one) in one provider run; `dry_run` prices it."""
    dataset = _dataset(dataset_id)
    plan = captioning.plan_captions(
        dataset=dataset, provider=payload.provider, overwrite=payload.overwrite, scope=payload.scope
    )
    if payload.dry_run:
        return Status(200, plan_out(plan, request.user))
    run = captioning.launch_captions(
        dataset=dataset,
        plan=plan,
        created_by=request.user,
        overwrite=payload.overwrite,
        scope=payload.scope,
    )
    return Status(201, run_out(run.id))


@router.post(
    "/datasets/{dataset_id}/fill-gap",
    response={201: RunOut, 200: GapPlanOut, 400: Error, 402: Error},
    openapi_extra=IDEMPOTENT,
)
@decorate_view(idempotent)
def fill_gap(request, dataset_id: int, payload: GapIn):
    """A run that makes the missing shot type (edits of a crop of the closest anchor) or
    pose (new takes of its anchor); `dry_run` prices it. No variation spec is made."""
    gap = gaps.plan_gap(
        dataset=_dataset(dataset_id),
        shot=payload.shot or "",
        pose=payload.pose or "",
        count=payload.count,
        provider=payload.provider,
    )
    if payload.dry_run:
        return Status(200, {**plan_out(gap.plan, request.user), "gap": _gap_out(gap)})
    run = gaps.launch_gap(gap=gap, created_by=request.user)
    return Status(201, run_out(run.id))


def _gap_out(gap) -> dict:
    return {
        "anchor_image_id": gap.anchor.image_id,
        "anchor_pose": gap.anchor.pose.key,
        "source": gap.source,
        "prompt": gap.prompt,
        "strength": gap.strength,
    }


@router.get("/datasets/{dataset_id}/exports", response=list[ExportOut])
def list_exports(request, dataset_id: int):
    return selectors.exports_of(_dataset(dataset_id))


@router.post(
    "/datasets/{dataset_id}/exports",
    response={200: ExportOut, 202: ExportOut, 400: Error, 429: Error},
)
def create_export(request, dataset_id: int, payload: ExportIn):
    """Freeze the dataset as it is now; the zip is built by a worker (poll the export). 200
    with the earlier export when nothing changed since it; 429 past the export quota."""
    export = exports.start_export(
        dataset=_dataset(dataset_id),
        created_by=request.user,
        resolution=payload.resolution,
        accept_warnings=payload.accept_warnings,
    )
    return Status(200 if export.reused else 202, export)


@router.get("/exports/{export_id}", response=ExportOut)
def get_export(request, export_id: str):
    """An export: status, image count, sha256 and a signed download link once ready."""
    try:
        key = uuid.UUID(export_id)
    except ValueError:
        raise Http404("No such export.") from None
    return get_object_or_404(DatasetExport, id=key)
