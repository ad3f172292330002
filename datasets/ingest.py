"""Upload ingest: a file becomes an `upload` Image, or is refused with a reason a person reads.

The web process only streams uploads into storage (`receive`); a worker ingests each one
(`ingest_upload`), and `manage.py prepare_dataset` ingests files of a folder the same way
(`ingest_path`). One picture's trouble never touches another's, and nothing is half-saved: the
Image row and its files exist together or not at all.

What ingest does to a picture: sniffs its real type (JPEG, PNG, WebP, HEIC; an Ultra-HDR
phone JPEG, which Pillow opens as MPO, is a JPEG), refuses empty, oversized, truncated, damaged
and bomb files and absurd dimensions, turns it upright per EXIF, converts it to sRGB by its
ICC profile and 16-bit greys to 8 bits, stores its pixels and nothing else (no EXIF, GPS, XMP,
comment, text chunk or profile), keeps a thumbnail, records size, sha256 and a perceptual
hash, refuses an exact duplicate (naming the image), warns about a near duplicate, a small or
a blurry picture, and sets the shot type from the largest face.
"""

import hashlib
import io
import logging
import struct
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import cv2
import imagehash
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from characters import faces, shot_types
from characters.imaging import thumbnail_of
from characters.likeness import scoring as likeness
from characters.models import Character, Image
from lorastudio import quotas
from lorastudio.errors import Refusal
from lorastudio.queueing import enqueue, requeue_stale

from .models import Upload

register_heif_opener()
log = logging.getLogger(__name__)

# HEIC is kept as JPEG; an Ultra-HDR JPEG (a gain map after the picture) opens as MPO and is
# kept as the plain JPEG of its first picture.
FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "jpg"}
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")
MIN_SIDE = 64
MAX_SIDE = 16_384
SMALL_SIDE = 768  # seed 002: short side below this trains poorly
BLUR_VARIANCE = 60.0  # variance of the Laplacian at 1024 px; below it, a picture looks soft
NEAR_DUPLICATE_BITS = 6  # of 64 perceptual-hash bits
# An upload still queued this long after its task was sent lost its message: ingest takes
# seconds, so only a very long queue waits this long (and a second message does no harm).
LOST_AFTER = timedelta(minutes=5)


class UploadRefused(Refusal):
    """This file cannot become a picture of the character; the message says why (ingest turns
    it into the upload's rejected outcome; it never leaves this module)."""


@dataclass
class Outcome:
    outcome: str  # accepted, duplicate or rejected
    image: Image | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)

    def __iter__(self):  # (outcome, image, reason), as prepare_dataset reads it
        return iter((self.outcome, self.image, self.reason))


# --- Web side: stream into storage, nothing decoded ---------------------------------------
def receive(*, character: Character, files: list[UploadedFile], created_by=None) -> list[Upload]:
    """Save each file as an Upload to ingest; what is refused without decoding is final.
    The files count against the user's upload quota (all refused when past it)."""
    from . import tasks

    quotas.take(user=created_by, kind="upload", amount=len(files))

    received = []
    for upload_file in files:
        name = Path(upload_file.name or "upload").name[:255]
        upload = Upload(
            character=character,
            original_filename=name,
            size_bytes=upload_file.size or 0,
            created_by=created_by,
        )
        try:
            _check_size(upload_file.size or 0)
        except UploadRefused as exc:
            upload.outcome, upload.reason = Upload.Outcome.REJECTED, str(exc)
            upload.save()
        else:
            with transaction.atomic():
                upload.raw.save(f"{upload.id.hex}.bin", upload_file, save=False)  # streamed
                upload.save()
                enqueue(tasks.ingest_upload, str(upload.pk))
        received.append(upload)
    return received


def requeue_lost_uploads() -> int:
    """Queue again the ingest of uploads still queued long after their task was sent."""
    from . import tasks

    return requeue_stale(
        Upload.objects.filter(outcome=Upload.Outcome.QUEUED),
        task=tasks.ingest_upload,
        after=LOST_AFTER,
    )


def _check_size(size: int) -> None:
    if size == 0:
        raise UploadRefused("The file is empty (0 bytes).")
    if size > settings.MAX_UPLOAD_BYTES:
        raise UploadRefused(
            f"The file is {size / 1e6:.1f} MB; the limit is "
            f"{settings.MAX_UPLOAD_BYTES / 1e6:.0f} MB. Export a smaller JPEG and try again."
        )


# --- Worker side -------------------------------------------------------------------------
def ingest_upload(upload_id) -> Upload:
    """Ingest one received upload and record its outcome; the raw file is removed after."""
    with transaction.atomic():
        # One ingest per upload at a time (a message the sweep re-sent may meet the first).
        upload = (
            Upload.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("character")
            .filter(id=upload_id)
            .first()
        )
        if upload is None:
            return Upload.objects.filter(id=upload_id).first()  # another worker has it
        if upload.outcome != Upload.Outcome.QUEUED:
            return upload  # already ingested (a redelivered task)
        return _ingest_upload(upload)


def _ingest_upload(upload: Upload) -> Upload:
    try:
        with upload.raw.open("rb") as handle:
            result = ingest_file(
                character=upload.character,
                handle=handle,
                filename=upload.original_filename,
                created_by=upload.created_by,
            )
    except FileNotFoundError:
        result = Outcome("rejected", reason="The uploaded file was lost before it was read.")
    Upload.objects.filter(id=upload.id).update(
        outcome=result.outcome, reason=result.reason, image=result.image
    )
    upload.raw.delete(save=False)
    Upload.objects.filter(id=upload.id).update(raw="")
    upload.refresh_from_db()
    return upload


def ingest_path(*, character: Character, path: Path, handle: BinaryIO, created_by=None) -> Outcome:
    """Ingest a file of a folder (the command line), exactly as an upload would be."""
    return ingest_file(
        character=character, handle=handle, filename=path.name, created_by=created_by
    )


def ingest_file(
    *, character: Character, handle: BinaryIO, filename: str, created_by=None
) -> Outcome:
    """One file → an accepted Image, the duplicate it repeats, or a refusal with its reason."""
    try:
        content = handle.read(settings.MAX_UPLOAD_BYTES + 1)
        _check_size(len(content))
        picture, kind = _decode(content)
    except UploadRefused as exc:
        return Outcome("rejected", reason=str(exc))
    digest = hashlib.sha256(content).hexdigest()
    existing = character.images.filter(sha256=digest).first()
    if existing is not None:
        return Outcome("duplicate", image=existing, reason=f"Duplicate of image #{existing.id}.")
    try:
        return _save(character, picture, kind, digest, filename, created_by)
    except IntegrityError:  # the same file, ingested by another worker at the same moment
        existing = character.images.filter(sha256=digest).first()
        return Outcome("duplicate", image=existing, reason=f"Duplicate of image #{existing.id}.")


def _decode(content: bytes) -> tuple[PILImage.Image, str]:
    """The upright picture, fully decoded, and its format; or why it cannot be one."""
    PILImage.MAX_IMAGE_PIXELS = settings.MAX_UPLOAD_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            picture = PILImage.open(io.BytesIO(content))
            kind = picture.format
            if kind not in FORMATS:
                raise UploadRefused(
                    f"This is a {kind or 'file of an unknown kind'}, not a JPEG, PNG, WebP or "
                    "HEIC picture."
                )
            width, height = picture.size
            if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
                raise UploadRefused(
                    f"The picture is {width} × {height} pixels; sides must be between "
                    f"{MIN_SIDE} and {MAX_SIDE} pixels."
                )
            picture.load()
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError) as exc:
        raise UploadRefused(
            "The picture has too many pixels to open safely (a decompression bomb?): "
            f"the limit is {settings.MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise UploadRefused(
            "This file is not a picture we can read (JPEG, PNG, WebP or HEIC), whatever its "
            "name says."
        ) from exc
    except (OSError, ValueError, RuntimeError, SyntaxError, EOFError, struct.error) as exc:
        # Pillow: "image file is truncated", broken data streams; libheif: ValueError. Their
        # own words ("broken data stream when reading image file") help no one here.
        raise UploadRefused(
            "The picture is damaged or cut short: open it on your computer, save or export "
            "it again, and upload the new file."
        ) from exc
    upright = _eight_bit(_in_srgb(ImageOps.exif_transpose(picture)))
    if upright.mode not in ("RGB", "RGBA", "L"):
        upright = upright.convert("RGB")
    # Only the pixels are kept: no EXIF, GPS, XMP, comment, text chunk or ICC profile.
    upright.info = {}
    return upright, kind


def _in_srgb(picture: PILImage.Image) -> PILImage.Image:
    """The picture converted from its embedded ICC profile to sRGB (trainers read sRGB)."""
    icc = picture.info.get("icc_profile")
    if not icc or picture.mode not in ("RGB", "RGBA", "CMYK"):
        return picture
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if picture.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(picture, profile, SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.info("Unusable ICC profile (%s): the picture is read as sRGB", exc)
        return picture


def _eight_bit(picture: PILImage.Image) -> PILImage.Image:
    """A 16-bit grey picture as 8-bit grey (Pillow's own conversion clips it to white)."""
    if picture.mode not in SIXTEEN_BIT_GREY:
        return picture
    values = np.asarray(picture).astype(np.uint32).clip(0, 65535)
    return PILImage.fromarray((values >> 8).astype(np.uint8), "L")


def _encoded(picture: PILImage.Image, kind: str) -> tuple[bytes, str]:
    """The picture as stored: same format (HEIC as JPEG), no EXIF, GPS or text chunks."""
    extension = FORMATS[kind]
    out = io.BytesIO()
    picture.info = {}  # Pillow would write an info's comment or profile back
    if extension == "jpg":
        picture.convert("RGB").save(out, "JPEG", quality=95, optimize=False)
    elif extension == "png":
        picture.save(out, "PNG", compress_level=3)
    else:
        picture.save(out, "WEBP", quality=95)
    return out.getvalue(), extension


def _measure(picture: PILImage.Image) -> tuple[float | None, float]:
    """(largest face ratio, sharpness) from a reduced grey and colour copy."""
    small = picture.convert("RGB")
    small.thumbnail((1024, 1024), PILImage.Resampling.BILINEAR)
    rgb = np.asarray(small)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return faces.largest_face_ratio(rgb), sharpness


def _near_duplicate(character: Character, phash: imagehash.ImageHash) -> Image | None:
    for image_id, other in character.images.exclude(phash="").values_list("id", "phash"):
        if phash - imagehash.hex_to_hash(other) <= NEAR_DUPLICATE_BITS:
            return Image(id=image_id)
    return None


def _save(character, picture, kind, digest, filename, created_by) -> Outcome:
    face_ratio, sharpness = _measure(picture)
    phash = imagehash.phash(picture)
    notes = []
    width, height = picture.size
    if min(width, height) < SMALL_SIDE:
        notes.append(
            f"Small: {width} × {height}; {SMALL_SIDE} px or more on the short side trains better."
        )
    if sharpness < BLUR_VARIANCE:
        notes.append("Looks blurry: a sharper photo of this pose will train better.")
    near = _near_duplicate(character, phash)
    if near is not None:
        notes.append(f"Looks like image #{near.id} (a near duplicate).")
    stored, extension = _encoded(picture, kind)
    image = Image(
        character=character,
        kind=Image.Kind.UPLOAD,
        original_filename=filename[:255],
        sha256=digest,
        phash=str(phash),
        size_bytes=len(stored),
        warnings=notes,
        created_by=created_by,
    )
    shot_types.assign(image, face_ratio=face_ratio)
    stem = digest[:20]
    saved_files = []
    try:
        with transaction.atomic():
            image.file.save(f"{stem}.{extension}", ContentFile(stored), save=False)
            saved_files.append(image.file.name)
            image.thumbnail.save(f"{stem}.webp", ContentFile(thumbnail_of(picture)), save=False)
            saved_files.append(image.thumbnail.name)
            image.width, image.height = width, height  # known; no need to decode it again
            image.save()
            likeness.measure_later([image.id])  # its own task: the upload's outcome is not held
    except Exception:
        for name in saved_files:  # no file without its row
            image.file.storage.delete(name)
        raise
    return Outcome("accepted", image=image, reason=" ".join(notes), warnings=notes)
