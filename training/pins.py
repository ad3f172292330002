"""Pinning a character: a new pin version (primary image, references with roles, optionally an
approved LoRA and its scale), its character pack, and what downstream pipelines read.

Pins are versioned: every PUT that changes something makes version n+1, the current pin is
the newest, and earlier versions stay as they were. Pinning the same thing again makes no new
version (a PUT is idempotent), so a pipeline's ETag stays valid.

    pin_character (request) ─ pack_status building ─ build_pack (worker) ─▶ ready (pack_url)
                                                                        └─▶ failed (pack_error)

A pack holds the images, the LoRA's config and a manifest; never the weights, which are kept
once as the LoRA's own file and named in the manifest by their sha256.
"""

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max, prefetch_related_objects
from django.utils import timezone

from characters.likeness import scoring as likeness
from characters.models import Anchor, Character, Image
from lorastudio import archives, audit, queueing
from lorastudio.errors import Refusal
from lorastudio.media import signed_media_url
from lorastudio.models import AuditEvent

from . import outgoing
from .models import LoraModel, Pin, PinReference

log = logging.getLogger(__name__)
Role = PinReference.Role
PACK_LINK_TTL = 3600
# The pin's signed links are minted per window of half their lifetime and all expire at the
# end of the next window; the window is part of the ETag. A poller answered 304 still holds
# links minted in the current window, so they stay good for at least LINK_WINDOW seconds.
LINK_WINDOW = PACK_LINK_TTL // 2


class PinRefused(Refusal):
    """A pin that cannot be made as asked; the message says why."""


def suggested_roles(images) -> dict[int, str]:
    """Each image's suggested role, by id: a reference shot keeps its shot as role, an anchor
    its pose when it names one. One query for all of them (images come with their call)."""
    images = list(images)
    poses = dict(
        Anchor.objects.filter(image_id__in=[image.id for image in images]).values_list(
            "image_id", "pose__key"
        )
    )
    return {image.id: _role_of(image, poses.get(image.id)) for image in images}


def _role_of(image: Image, pose_key: str | None) -> str:
    shot = ((image.call.context or {}).get("image") or {}).get("shot") if image.call else None
    if shot in Role.values:
        return shot
    if pose_key:
        for role in Role.values:
            if role.replace("_", "") in pose_key.replace("_", "").replace("-", ""):
                return role
    return Role.REFERENCE


def current_pin(character: Character) -> Pin | None:
    return (
        Pin.objects.filter(character=character)
        .select_related("character", "primary_image", "lora", "pinned_by")
        .prefetch_related("references__image")
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
    if roles is None or isinstance(roles, dict):
        suggested = suggested_roles(images[i] for i in reference_ids)
    if roles is None:
        return [suggested[i] for i in reference_ids]
    if isinstance(roles, dict):
        if not all(str(k).isascii() and str(k).isdigit() for k in roles):
            raise PinRefused(
                'The keys of roles are reference image ids (whole numbers), e.g. {"12": "side"}.'
            )
        chosen = {int(k): v for k, v in roles.items()}
        result = [chosen.get(i) or suggested[i] for i in reference_ids]
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
    new version. A `pin.changed` webhook goes out once the new version is committed, and a
    worker builds its pack."""
    from . import tasks

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
    prefetch_related_objects([pin], "references__image")  # as pins_of() gives them
    # The pack (images, up to GiBs of them) is written by a worker, outside this lock.
    queueing.enqueue(tasks.build_pin_pack, str(pin.id))
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
# A pack still building this long after its task was sent lost its message: queued again.
PACK_LOST_AFTER = timedelta(minutes=10)


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else "png"


def _pack_entries(pin: Pin) -> list[tuple[str, str, dict]]:
    """(path in the zip, storage name, what the manifest says of it) for every file."""
    slug, primary = pin.character.slug, pin.primary_image
    entries = [
        (
            f"images/00-primary.{_ext(primary.file.name)}",
            primary.file.name,
            {"role": "primary", "image_id": primary.id},
        )
    ]
    for ref in pin.references.select_related("image").order_by("order"):
        entries.append(
            (
                f"images/{ref.order + 1:02d}-{ref.role}.{_ext(ref.image.file.name)}",
                ref.image.file.name,
                {"role": ref.role, "image_id": ref.image_id},
            )
        )
    if pin.lora and pin.lora.config_file:
        entries.append(
            (
                f"lora/{slug}-v{pin.lora.version}-config.json",
                pin.lora.config_file.name,
                {"role": "lora_config"},
            )
        )
    return entries


def _manifest(pin: Pin, files: list[dict]) -> dict:
    lora = pin.lora
    return {
        "character": {
            "slug": pin.character.slug,
            "name": pin.character.name,
            "trigger_word": pin.character.trigger_word,
        },
        "pin": {"version": pin.version, "created_at": pin.created_at.isoformat()},
        # The weights are kept once, as the LoRA's own file, never copied into each pin
        # version's pack: fetch them from the pin's `lora.weights_url` and check this sha256.
        "lora": (
            {
                "version": lora.version,
                "scale": str(pin.lora_scale),
                "sha256": lora.sha256,
                "size_bytes": lora.size_bytes,
                "weights": "not in the pack: the pin's lora.weights_url",
                "training_job_id": lora.training_job_id,
                "export_id": str(lora.export_id) if lora.export_id else None,
            }
            if lora
            else None
        ),
        "files": files,
    }


def _write_pack(pin: Pin, archive: archives.ZipWriter) -> None:
    """Write the pack's files, one at a time, streamed from storage, and its manifest."""
    files = []
    for arcname, storage_name, meta in _pack_entries(pin):
        sha256 = archive.add_file(arcname, storage_name)
        files.append({"path": arcname, "sha256": sha256, **meta})
    archive.add("manifest.json", json.dumps(_manifest(pin, files), indent=2).encode())


def build_pack(pin_id) -> Pin | None:
    """Build a pin version's character pack (its images, the LoRA config and a manifest) in
    a worker, through a temporary file into storage. Safe to run twice: one build wins."""
    pin = (
        Pin.objects.select_related("character", "primary_image", "lora")
        .filter(id=pin_id, pack_status=Pin.PackStatus.BUILDING)
        .first()
    )
    if pin is None:
        return None
    name = pin.pack.field.generate_filename(pin, f"{pin.character.slug}-pin-v{pin.version}.zip")
    try:
        stored, _ = archives.build(
            name, write=lambda archive: _write_pack(pin, archive), when=pin.created_at
        )
    except Exception as exc:  # a file missing from storage, storage down: say so on the pin
        log.exception("The pack of %s could not be built", pin)
        Pin.objects.filter(id=pin.id, pack_status=Pin.PackStatus.BUILDING).update(
            pack_status=Pin.PackStatus.FAILED,
            pack_error=f"The character pack could not be built ({exc}). Build it again.",
        )
        return Pin.objects.get(id=pin.id)
    updated = Pin.objects.filter(id=pin.id, pack_status=Pin.PackStatus.BUILDING).update(
        pack=stored.name,
        pack_sha256=stored.sha256,
        pack_status=Pin.PackStatus.READY,
        pack_error="",
        updated_at=timezone.now(),
    )
    if updated != 1:  # another worker finished it first: keep theirs, drop ours
        log.info("The pack of %s was built by another worker", pin)
        default_storage.delete(stored.name)
    return Pin.objects.get(id=pin.id)


def rebuild_pack(*, pin: Pin) -> Pin:
    """Queue a failed pack to be built again (a ready or building one is left alone)."""
    from . import tasks

    if Pin.objects.filter(id=pin.id, pack_status=Pin.PackStatus.FAILED).update(
        pack_status=Pin.PackStatus.BUILDING, pack_error="", pack_queued_at=timezone.now()
    ):
        queueing.enqueue(tasks.build_pin_pack, str(pin.id))
    pin.refresh_from_db()
    return pin


def requeue_lost_packs() -> int:
    """Queue again the packs still building long after their task was sent."""
    from . import tasks

    return queueing.requeue_stale(
        Pin.objects.filter(pack_status=Pin.PackStatus.BUILDING),
        task=tasks.build_pin_pack,
        after=PACK_LOST_AFTER,
        field="pack_queued_at",
    )


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
        "references": [  # in order, from the rows pins_of() prefetched when it did
            _image_out(ref.image, ref.role, link)
            for ref in sorted(pin.references.all(), key=lambda ref: ref.order)
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
        "pack_status": pin.pack_status,
        "pack_url": link(pin.pack.name) if pin.pack_status == Pin.PackStatus.READY else None,
        "links_expire_in": expires - now,
        "links_expire_at": datetime.fromtimestamp(expires, tz=UTC),
    }
