"""Character endpoints of the JSON API: presets, characters, the sheet, variation specs."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from lorastudio.api_errors import Error

from . import selectors, services
from .models import (
    CAPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PROMPT_MAX_LENGTH,
    Character,
    Image,
    LikenessFlag,
)

router = Router(tags=["characters"])


class PoseOut(Schema):
    key: str
    label: str
    prompt: str


class PresetVariationOut(Schema):
    key: str
    label: str
    prompt: str
    anchor_pose: str = Field(..., alias="anchor_pose.key")
    strength: Decimal
    count: int


class PresetOut(Schema):
    key: str
    label: str
    description: str
    base_prompt: str
    negative_prompt: str
    poses: list[PoseOut]
    variations: list[PresetVariationOut]


class LikenessOut(Schema):
    measure: str
    model: str
    score: float | None
    distance: float | None
    reference: str | None
    flag: str | None


class ImageOut(Schema):
    id: int
    kind: str
    url: str
    thumbnail_url: str | None
    width: int | None
    height: int | None
    review: str
    starred: bool
    caption: str
    pose: str | None = None
    variation: str | None = None
    prompt: str
    seed: int | None
    strength: Decimal | None
    source_image_id: int | None
    call_id: str | None
    created_at: datetime
    likeness: LikenessOut | None = Field(
        None,
        description="How alike the image is to its character (sheet, anchor, pin or the "
        "consensus of its images); null while not measured. Scores of different measures "
        "are never comparable.",
    )

    @staticmethod
    def resolve_likeness(image: Image) -> dict | None:
        return selectors.likeness_of(image)

    @staticmethod
    def resolve_pose(image: Image) -> str | None:
        return image.pose.key if image.pose_id else None

    @staticmethod
    def resolve_variation(image: Image) -> str | None:
        return image.variation.key if image.variation_id else None

    @staticmethod
    def resolve_call_id(image: Image) -> str | None:
        return str(image.call_id) if image.call_id else None

    @staticmethod
    def resolve_url(image: Image) -> str:
        return image.file.url

    @staticmethod
    def resolve_thumbnail_url(image: Image) -> str | None:
        return image.thumbnail.url if image.thumbnail else None


class StepOut(Schema):
    key: str
    label: str
    state: str
    summary: str


class CharacterOut(Schema):
    slug: str
    name: str
    trigger_word: str
    base_prompt: str
    negative_prompt: str
    preset: str | None = Field(None, alias="preset.key")
    created_at: datetime
    updated_at: datetime


class CharacterDetailOut(CharacterOut):
    progress: list[StepOut]

    @staticmethod
    def resolve_progress(character: Character):
        return selectors.pipeline_progress(character)


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
Prompt = Annotated[str, Field(max_length=PROMPT_MAX_LENGTH)]
Key = Annotated[str, Field(max_length=60)]
TriggerWord = Annotated[str, Field(max_length=24)]
ObjectId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class CharacterIn(Schema):
    name: Name
    trigger_word: TriggerWord
    base_prompt: Prompt
    negative_prompt: Prompt = ""
    preset: Key | None = None


class CharacterPatch(Schema):
    name: Name | None = None
    trigger_word: TriggerWord | None = None
    base_prompt: Prompt | None = None
    negative_prompt: Prompt | None = None


class SheetEntryOut(Schema):
    pose: PoseOut
    image: ImageOut | None


class VariationOut(Schema):
    key: str
    label: str
    prompt: str
    anchor_pose: str = Field(..., alias="anchor_pose.key")
    strength: Decimal
    count: int


class VariationIn(Schema):
    label: Name
    prompt: Prompt
    anchor_pose: Key
    strength: Decimal
    count: int = Field(4, ge=1, le=20)


class AnchorIn(Schema):
    image_id: ObjectId


class ImagePatch(Schema):
    review: Literal["approved", "rejected", "unreviewed"] | None = None
    starred: bool | None = None
    caption: Annotated[str, Field(max_length=CAPTION_MAX_LENGTH)] | None = None


@router.get("/presets", response=list[PresetOut])
def list_presets(request):
    return selectors.presets_in_full()


@router.get("/characters", response=list[CharacterOut])
@paginate
def list_characters(request):
    return selectors.characters()


@router.post("/characters", response={201: CharacterDetailOut, 400: Error, 409: Error})
def create_character(request, payload: CharacterIn):
    character = services.create_character(**payload.dict(), created_by=request.user)
    return Status(201, character)


@router.get("/characters/{slug}", response=CharacterDetailOut)
def get_character(request, slug: str):
    return get_object_or_404(selectors.characters(), slug=slug)


@router.patch("/characters/{slug}", response={200: CharacterDetailOut, 400: Error, 409: Error})
def patch_character(request, slug: str, payload: CharacterPatch):
    character = get_object_or_404(selectors.characters(), slug=slug)
    return services.update_character(character=character, **payload.dict(exclude_unset=True))


@router.get("/characters/{slug}/sheet", response=list[SheetEntryOut])
def get_sheet(request, slug: str):
    character = get_object_or_404(selectors.characters(), slug=slug)
    return [{"pose": pose, "image": image} for pose, image in selectors.character_sheet(character)]


@router.get("/characters/{slug}/variations", response=list[VariationOut])
def list_variations(request, slug: str):
    character = get_object_or_404(selectors.characters(), slug=slug)
    return selectors.character_variations(character)


@router.post("/characters/{slug}/variations", response={201: VariationOut, 400: Error, 409: Error})
def create_variation(request, slug: str, payload: VariationIn):
    character = get_object_or_404(selectors.characters(), slug=slug)
    return Status(201, services.save_variation(character=character, **payload.dict()))


@router.put("/characters/{slug}/anchors/{pose}", response={200: SheetEntryOut, 409: Error})
def put_anchor(request, slug: str, pose: str, payload: AnchorIn):
    """Pick `image_id` as the anchor of `pose`; a second pick replaces the first."""
    character = get_object_or_404(selectors.characters(), slug=slug)
    anchor = services.pick_anchor(
        character=character, pose_key=pose, image_id=payload.image_id, picked_by=request.user
    )
    return {"pose": anchor.pose, "image": anchor.image}


@router.get("/characters/{slug}/images", response=list[ImageOut])
@paginate
def list_images(
    request,
    slug: str,
    kind: str | None = None,
    pose: str | None = None,
    variation: str | None = None,
    review: str | None = None,
    starred: bool | None = None,
    flag: Literal[tuple(LikenessFlag.values)] | None = None,
    sort: Literal["newest", "oldest", "pose", "variation", "likeness", "-likeness"] = "newest",
):
    """`sort=likeness` puts the least alike first, `-likeness` the most alike; `flag`
    keeps one likeness flag (ok, drift, other_person, no_face, too_small)."""
    character = get_object_or_404(selectors.characters(), slug=slug)
    return selectors.gallery_images_for_api(
        character,
        kind=kind,
        pose=pose,
        variation=variation,
        review=review,
        starred=starred,
        flag=flag,
        sort=sort,
    )


@router.get("/images/{image_id}", response=ImageOut)
def get_image(request, image_id: int):
    """One image, with its likeness."""
    return get_object_or_404(selectors.with_likeness(selectors.images_with_labels()), id=image_id)


@router.patch("/images/{image_id}", response={200: ImageOut, 400: Error})
def patch_image(request, image_id: int, payload: ImagePatch):
    image = get_object_or_404(selectors.images_with_labels(), id=image_id)
    return services.review_image(
        image=image, reviewed_by=request.user, **payload.dict(exclude_unset=True)
    )
