"""Pinning a character: a new pin version (primary image, references with roles, optionally an
approved LoRA and its scale), its character pack, and what downstream pipelines read.

Pins are versioned: every PUT that changes something makes version n+1, the current pin is
the newest, and earlier versions stay as they were. Pinning the same thing again makes no new
version (a PUT is idempotent), so a pipeline's ETag stays valid.
"""

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from characters.likeness import scoring as likeness
from characters.models import Anchor, Character, Image
from lorastudio import audit
from lorastudio.errors import Refusal
from lorastudio.media import signed_media_url
from lorastudio.models import AuditEvent

from . import outgoing
from .models import LoraModel, Pin, PinReference

Role = PinReference.Role
PACK_LINK_TTL = 3600
# The pin's signed links are minted per window of half their lifetime and all expire at the
# end of the next window; the window is part of the ETag. A poller answered 304 still holds
# links minted in the current window, so they stay good for at least LINK_WINDOW seconds.
LINK_WINDOW = PACK_LINK_TTL // 2


class PinRefused(Refusal):
    """A pin that cannot be made as asked; the message says why."""


def suggested_role(image: Image) -> str:
    """A reference shot keeps its shot as role; an anchor its pose when it names one."""
    shot = ((image.call.context or {}).get("image") or {}).get("shot") if image.call else None
    if shot in Role.values:
        return shot
    anchor = Anchor.objects.filter(image=image).select_related("pose").first()
    if anchor:
        for role in Role.values:
            if role.replace("_", "") in anchor.pose.key.replace("_", "").replace("-", ""):
                return role
    return Role.REFERENCE


def current_pin(character: Character) -> Pin | None:
    return (
        Pin.objects.filter(character=character)
        .select_related("character", "primary_image", "lora")
        .order_by("-version")
        .first()
    )


def pin_identity(character: Character) -> tuple[int, list[int]] | None:
    """(version, [primary, references...]) of the current pin: the likeness identity."""
    pin = Pin.objects.filter(character=character).order_by("-version").first()
    if pin is None:
        return None
    references = list(pin.references.order_by("order").values_list("image_id", flat=True))
    return pin.version, [pin.primary_image_id, *references]


def _roles_for(reference_ids: list[int], roles, images: dict[int, Image]) -> list[str]:
    if roles is None:
        return [suggested_role(images[i]) for i in reference_ids]
    if isinstance(roles, dict):
        if not all(str(k).isascii() and str(k).isdigit() for k in roles):
            raise PinRefused(
                'The keys of roles are reference image ids (whole numbers), e.g. {"12": "side"}.'
            )
        chosen = {int(k): v for k, v in roles.items()}
        result = [chosen.get(i) or suggested_role(images[i]) for i in reference_ids]
    else:
        if len(roles) != len(reference_ids):
            raise PinRefused("Give one role per reference image, in the same order.")
        result = list(roles)
    unknown = sorted(set(result) - set(Role.values))
    if unknown:
        raise PinRefused(f"Unknown role {', '.join(unknown)}: use {', '.join(Role.values)}.")
    return result


@transaction.atomic
def pin_character(
    *,
    character: Character,
    primary_image_id: int,
    reference_image_ids: list[int] | None = None,
    roles=None,
    lora_id: int | None = None,
    lora_scale=None,
    note: str = "",
    pinned_by: AbstractBaseUser | None = None,
) -> tuple[Pin, bool]:
    """Make the next pin version of `character`; (pin, created). The same pin again is no
    new version. A `pin.changed` webhook goes out once the new version is committed."""
    reference_ids = list(dict.fromkeys(int(i) for i in reference_image_ids or []))
    reference_ids = [i for i in reference_ids if i != primary_image_id]
    wanted = {primary_image_id, *reference_ids}
    images = {i.id: i for i in character.images.select_related("call").filter(id__in=wanted)}
    missing = sorted(wanted - set(images))
    if missing:
        raise PinRefused(
            f"Image {', '.join(map(str, missing))} is not an image of {character.name}: pin "
            "images from its reference set, anchors or gallery."
        )
    if images[primary_image_id].review == Image.Review.REJECTED:
        raise PinRefused("The primary image was rejected in review: pick another one.")
    role_list = _roles_for(reference_ids, roles, images)
    lora = None
    if lora_id is not None:
        lora = LoraModel.objects.filter(id=lora_id, character=character).first()
        if lora is None:
            raise PinRefused(f"{character.name} has no LoRA {lora_id}.")
        if lora.status != LoraModel.Status.APPROVED:
            raise PinRefused(
                f"LoRA v{lora.version} is {lora.get_status_display().lower()}: approve it "
                "before pinning it."
            )
    try:
        scale = Decimal(str(lora_scale if lora_scale is not None else "1.00")).quantize(
            Decimal("0.01")
        )
    except InvalidOperation:
        raise PinRefused("The LoRA scale must be a number from 0 to 2.") from None
    if not Decimal("0") <= scale <= Decimal("2"):
        raise PinRefused("The LoRA scale goes from 0 to 2 (1 is the trained strength).")

    Character.objects.select_for_update().get(id=character.id)  # one new version at a time
    current = current_pin(character)
    if current and _same(current, primary_image_id, reference_ids, role_list, lora, scale):
        return current, False
    version = (Pin.objects.filter(character=character).aggregate(v=Max("version"))["v"] or 0) + 1
    pin = Pin.objects.create(
        character=character,
        version=version,
        primary_image=images[primary_image_id],
        lora=lora,
        lora_scale=scale,
        note=note[:200],
        pinned_by=pinned_by if getattr(pinned_by, "is_authenticated", False) else None,
    )
    PinReference.objects.bulk_create(
        PinReference(pin=pin, image=images[i], role=role, order=n)
        for n, (i, role) in enumerate(zip(reference_ids, role_list, strict=True))
    )
    build_pack(pin)
    audit.record(
        AuditEvent.Action.PIN_CHANGED,
        f"pinned {character.name} v{pin.version} (primary image #{primary_image_id}, "
        f"{len(reference_ids)} references" + (f", LoRA v{lora.version})" if lora else ")"),
        actor=pinned_by,
        target=f"pin:{pin.id}",
    )
    likeness.rescore_later(character.id)  # the pin is the identity now
    transaction.on_commit(lambda: outgoing.emit(outgoing.PIN_CHANGED, outgoing.pin_payload(pin)))
    return pin, True


def _same(pin: Pin, primary_id, reference_ids, roles, lora, scale) -> bool:
    refs = list(pin.references.order_by("order").values_list("image_id", "role"))
    return (
        pin.primary_image_id == primary_id
        and refs == list(zip(reference_ids, roles, strict=True))
        and pin.lora_id == (lora.id if lora else None)
        and pin.lora_scale == scale
    )


# --- The character pack --------------------------------------------------------------------
def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else "png"


def build_pack(pin: Pin) -> Pin:
    """One zip with the pinned images, the LoRA weights and a JSON manifest, for this version."""
    slug = pin.character.slug
    buffer = io.BytesIO()
    files = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(arcname: str, content: bytes, **meta) -> None:
            archive.writestr(arcname, content)
            files.append({"path": arcname, "sha256": hashlib.sha256(content).hexdigest(), **meta})

        primary = pin.primary_image
        add(
            f"images/00-primary.{_ext(primary.file.name)}",
            _read(primary.file.name),
            role="primary",
            image_id=primary.id,
        )
        for ref in pin.references.select_related("image").order_by("order"):
            add(
                f"images/{ref.order + 1:02d}-{ref.role}.{_ext(ref.image.file.name)}",
                _read(ref.image.file.name),
                role=ref.role,
                image_id=ref.image_id,
            )
        if pin.lora:
            add(
                f"lora/{slug}-v{pin.lora.version}.safetensors",
                _read(pin.lora.weights.name),
                role="lora_weights",
            )
            if pin.lora.config_file:
                add(
                    f"lora/{slug}-v{pin.lora.version}-config.json",
                    _read(pin.lora.config_file.name),
                    role="lora_config",
                )
        manifest = {
            "character": {
                "slug": slug,
                "name": pin.character.name,
                "trigger_word": pin.character.trigger_word,
            },
            "pin": {"version": pin.version, "created_at": pin.created_at.isoformat()},
            "lora": (
                {
                    "version": pin.lora.version,
                    "scale": str(pin.lora_scale),
                    "sha256": pin.lora.sha256,
                    "training_job_id": pin.lora.training_job_id,
                    "export_id": str(pin.lora.export_id) if pin.lora.export_id else None,
                }
                if pin.lora
                else None
            ),
            "files": files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    content = buffer.getvalue()
    pin.pack.save(f"{slug}-pin-v{pin.version}.zip", ContentFile(content), save=False)
    pin.pack_sha256 = hashlib.sha256(content).hexdigest()
    pin.save(update_fields=["pack", "pack_sha256", "updated_at"])
    return pin


# --- What downstream reads -----------------------------------------------------------------
def link_window(now: float | None = None) -> int:
    return int(time.time() if now is None else now) // LINK_WINDOW


def links_expire_at(window: int) -> int:
    """When links minted in `window` expire: the end of the next window."""
    return (window + 2) * LINK_WINDOW


def etag(pin: Pin, window: int | None = None) -> str:
    """The pin version and the window its links were minted in: a new window is a new tag,
    so an `If-None-Match` poller gets fresh links before the ones it holds expire."""
    window = link_window() if window is None else window
    return f'W/"pin-{pin.character_id}-v{pin.version}-w{window}"'


def etag_matches(header: str, pin: Pin, window: int | None = None) -> bool:
    tag = etag(pin, window)
    candidates = [c.strip() for c in (header or "").split(",")]
    return "*" in candidates or any(
        c.removeprefix("W/") == tag.removeprefix("W/") for c in candidates
    )


def _image_out(image: Image, role: str, link: Callable[[str], str]) -> dict:
    return {
        "image_id": image.id,
        "role": role,
        "url": link(image.file.name),
        "width": image.width,
        "height": image.height,
        "kind": image.kind,
    }


def pin_document(pin: Pin, *, absolute: Callable[[str], str], window: int | None = None) -> dict:
    """The pin as downstream pipelines read it: signed links that work without a login, all
    expiring together at the end of the window after `window` (the current one)."""
    now = int(time.time())
    expires = links_expire_at(link_window(now) if window is None else window)

    def link(name: str) -> str:
        if settings.PUBLIC_BASE_URL:  # the address downstream knows us by, behind any proxy
            return signed_media_url(name, expires=expires, absolute=True)
        return absolute(signed_media_url(name, expires=expires))

    lora = pin.lora
    return {
        "character": pin.character.slug,
        "name": pin.character.name,
        "trigger_word": pin.character.trigger_word,
        "version": pin.version,
        "pinned_at": pin.created_at,
        "pinned_by": pin.pinned_by.get_username() if pin.pinned_by else None,
        "note": pin.note,
        "primary": _image_out(pin.primary_image, "primary", link),
        "references": [
            _image_out(ref.image, ref.role, link)
            for ref in pin.references.select_related("image").order_by("order")
        ],
        "lora": (
            {
                "id": lora.id,
                "version": lora.version,
                "status": lora.status,
                "scale": pin.lora_scale,
                "weights_url": link(lora.weights.name),
                "sha256": lora.sha256,
            }
            if lora
            else None
        ),
        "pack_url": link(pin.pack.name) if pin.pack else None,
        "links_expire_in": expires - now,
        "links_expire_at": datetime.fromtimestamp(expires, tz=UTC),
    }
