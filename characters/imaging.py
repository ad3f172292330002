"""The one thumbnail path, and saving a picture into the image table."""

import hashlib
import io

from django.core.files.base import ContentFile
from PIL import Image as PILImage
from PIL import ImageOps

THUMBNAIL_BOX = (320, 320)


def thumbnail(content: bytes) -> bytes:
    """A WebP at most 320 px on its longest side, upright per EXIF."""
    with PILImage.open(io.BytesIO(content)) as source:
        return thumbnail_of(ImageOps.exif_transpose(source))


def thumbnail_of(picture: PILImage.Image) -> bytes:
    """The thumbnail of a picture already decoded (and upright)."""
    image = picture.convert("RGB")
    image.thumbnail(THUMBNAIL_BOX, PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=82)
    return out.getvalue()


def attach_files(image, content: bytes, *, filename: str) -> None:
    """Fill an unsaved Image's file, thumbnail and hash from the picture's bytes."""
    digest = hashlib.sha256(content).hexdigest()
    image.sha256 = digest
    stem = digest[:20]
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "png"
    image.file.save(f"{stem}.{extension}", ContentFile(content), save=False)
    image.thumbnail.save(f"{stem}.webp", ContentFile(thumbnail(content)), save=False)
