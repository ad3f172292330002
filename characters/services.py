"""Everything that changes characters, their poses and variation specs."""

from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from lorastudio import audit
from lorastudio.errors import Conflict, Invalid
from lorastudio.models import AuditEvent

from .likeness import scoring as likeness
from .models import CAPTION_MAX_LENGTH, Anchor, Character, Image, Pose, Preset, Variation


class CharacterError(Conflict):
    """A request that breaks a rule of the domain; the message is for the user."""


class CharacterInvalid(Invalid):
    """A character, variation spec or review whose values break a field's rule (400)."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "character"
    slug, n = base, 2
    while Character.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _save_validated(instance) -> None:
    """full_clean then save: a value the model refuses is a `CharacterInvalid`, a race on a
    unique field a `CharacterError`."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise CharacterInvalid.from_model(exc, type(instance)) from exc
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise CharacterError("This conflicts with something saved meanwhile; try again.") from exc


@transaction.atomic
def create_character(
    *,
    name: str,
    trigger_word: str,
    base_prompt: str,
    negative_prompt: str = "",
    preset: str | None = None,
    created_by: AbstractBaseUser | None = None,
) -> Character:
    """Create a character and copy its preset's poses and variation specs onto it."""
    preset_obj = None
    if preset:
        preset_obj = Preset.objects.filter(key=preset).first()
        if preset_obj is None:
            raise CharacterInvalid.of("preset", f"There is no preset “{preset}”.")
    character = Character(
        name=name.strip(),
        slug=_unique_slug(name),
        trigger_word=(trigger_word or "").strip().lower(),
        base_prompt=(base_prompt or "").strip(),
        negative_prompt=(negative_prompt or "").strip(),
        preset=preset_obj,
        created_by=created_by,
    )
    _save_validated(character)
    if preset_obj:
        _copy_preset(character, preset_obj)
    return character


def _copy_preset(character: Character, preset: Preset) -> None:
    poses = {
        pp.key: Pose(
            character=character, key=pp.key, label=pp.label, prompt=pp.prompt, order=pp.order
        )
        for pp in preset.poses.all()
    }
    Pose.objects.bulk_create(poses.values())
    Variation.objects.bulk_create(
        Variation(
            character=character,
            key=pv.key,
            label=pv.label,
            prompt=pv.prompt,
            anchor_pose=poses[pv.anchor_pose.key],
            strength=pv.strength,
            count=pv.count,
            order=pv.order,
        )
        for pv in preset.variations.select_related("anchor_pose")
    )


@transaction.atomic
def update_character(*, character: Character, **changes) -> Character:
    """Change a character's name, prompts or trigger word (not once a LoRA was trained on it)."""
    allowed = {"name", "trigger_word", "base_prompt", "negative_prompt"}
    unknown = set(changes) - allowed
    if unknown:
        names = ", ".join(sorted(unknown))
        raise CharacterInvalid(
            f"These fields cannot be changed: {names}.",
            fields={name: ["This field cannot be changed."] for name in sorted(unknown)},
        )
    if isinstance(changes.get("trigger_word"), str):
        changes["trigger_word"] = changes["trigger_word"].strip().lower()
    new_trigger = changes.get("trigger_word")
    if (
        new_trigger is not None
        and new_trigger != character.trigger_word
        and character.training_jobs.exists()
    ):
        raise CharacterError(
            "The trigger word is baked into this character's trained LoRAs; "
            "create a new character to use another one."
        )
    for field, value in changes.items():
        setattr(character, field, value.strip() if isinstance(value, str) else value)
    _save_validated(character)
    return character


def _next_variation_key(character: Character, label: str) -> str:
    base = slugify(label).replace("-", "_")[:50] or "variation"
    key, n = base, 2
    while character.variations.filter(key=key).exists():
        key, n = f"{base}_{n}", n + 1
    return key


@transaction.atomic
def save_variation(
    *,
    character: Character,
    label: str,
    prompt: str,
    anchor_pose: str,
    strength: Decimal | float | str,
    count: int = 4,
    variation: Variation | None = None,
) -> Variation:
    """Create a variation spec, or change `variation`; the anchor pose must be the character's."""
    pose = character.poses.filter(key=anchor_pose).first()
    if pose is None:
        raise CharacterInvalid.of("anchor_pose", f"“{anchor_pose}” is not a pose of {character}.")
    if variation is None:
        variation = Variation(
            character=character,
            key=_next_variation_key(character, label),
            order=character.variations.count(),
        )
    variation.label = (label or "").strip()
    variation.prompt = (prompt or "").strip()
    variation.anchor_pose = pose
    try:
        variation.strength = Decimal(str(strength)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise CharacterInvalid.of("strength", "Strength must be a number from 0 to 1.") from exc
    variation.count = count
    _save_validated(variation)
    return variation


class AnchorRefused(CharacterError):
    """The image cannot be the anchor of that pose."""


@transaction.atomic
def pick_anchor(
    *, character: Character, pose_key: str, image_id: int, picked_by: AbstractBaseUser | None
) -> Anchor:
    """Make an image the anchor of a pose; a second pick for the pose replaces the first."""
    pose = character.poses.filter(key=pose_key).first()
    if pose is None:
        raise AnchorRefused(f"{character} has no pose “{pose_key}”.")
    image = character.images.filter(id=image_id).first()
    if image is None:
        raise AnchorRefused(f"Image {image_id} is not a picture of {character}.")
    if image.pose_id not in (None, pose.id):
        raise AnchorRefused(
            f"Image {image_id} was made for the {image.pose.label} pose, not {pose.label}."
        )
    anchor, _ = Anchor.objects.update_or_create(
        character=character, pose=pose, defaults={"image": image, "picked_by": picked_by}
    )
    likeness.rescore_later(character.id)  # a new sheet: every image is scored against it
    return anchor


REVIEW_VALUES = {choice for choice, _ in Image.Review.choices}


@transaction.atomic
def review_image(
    *,
    image: Image,
    reviewed_by: AbstractBaseUser | None,
    review: str | None = None,
    starred: bool | None = None,
    caption: str | None = None,
) -> Image:
    """Approve, reject or reset an image, star it, or change its caption."""
    if review is not None:
        if review not in REVIEW_VALUES:
            raise CharacterInvalid.of("review", f"Use one of {', '.join(sorted(REVIEW_VALUES))}.")
        image.review, image.reviewed_by = review, reviewed_by
    if starred is not None:
        image.starred = starred
    if caption is not None:
        if len(caption) > CAPTION_MAX_LENGTH:
            raise CharacterInvalid.of(
                "caption", f"A caption has at most {CAPTION_MAX_LENGTH} characters."
            )
        image.caption = caption.strip()
    image.save(update_fields=["review", "reviewed_by", "starred", "caption", "updated_at"])
    return image


@transaction.atomic
def bulk_review(
    *, character: Character, image_ids: list[int], review: str, reviewed_by: AbstractBaseUser | None
) -> int:
    """Set the review state of many images of one character at once; returns how many."""
    if review not in REVIEW_VALUES:
        raise CharacterInvalid.of("review", f"Use one of {', '.join(sorted(REVIEW_VALUES))}.")
    with transaction.atomic():
        updated = character.images.filter(id__in=image_ids).update(
            review=review, reviewed_by=reviewed_by, updated_at=timezone.now()
        )
        if updated:
            audit.record(
                AuditEvent.Action.IMAGES_REVIEWED,
                f"set {updated} images of {character.name} to {review}",
                actor=reviewed_by,
                target=f"character:{character.slug}",
                detail={"image_ids": sorted(image_ids)[:500], "review": review},
            )
    return updated
