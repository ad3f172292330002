"""Uploads through the API: many files at once, one result per file, ingested by a worker."""

from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from characters.api import router as characters_router
from characters.selectors import characters
from lorastudio.api_errors import Error
from lorastudio.errors import Invalid
from lorastudio.media import signed_media_url

from . import ingest
from .models import Upload

router = Router(tags=["uploads"])
MAX_FILES = 100


class UploadOut(Schema):
    id: UUID
    file: str
    outcome: str
    reason: str
    image_id: int | None
    thumbnail_url: str | None
    shot_type: str | None
    shot_source: str | None
    warnings: list[str]
    review: str | None

    @staticmethod
    def resolve_file(upload: Upload) -> str:
        return upload.original_filename

    @staticmethod
    def resolve_shot_type(upload: Upload) -> str | None:
        return upload.image.shot_type if upload.image else None

    @staticmethod
    def resolve_shot_source(upload: Upload) -> str | None:
        return upload.image.get_shot_source_display() if upload.image else None

    @staticmethod
    def resolve_warnings(upload: Upload) -> list[str]:
        """What ingest noticed about an accepted photo (small, blurry, looks like #N)."""
        if upload.outcome != Upload.Outcome.ACCEPTED or upload.image is None:
            return []
        return list(upload.image.warnings or [])

    @staticmethod
    def resolve_review(upload: Upload) -> str | None:
        return upload.image.review if upload.image else None

    @staticmethod
    def resolve_thumbnail_url(upload: Upload) -> str | None:
        image = upload.image
        return signed_media_url(image.thumbnail.name or image.file.name) if image else None


def upload_images(request, slug: str, files: File[list[UploadedFile]]):
    """Upload photos (multipart `files`, many at once). Each gets its own result: `queued` for
    ingest (follow it at /api/uploads/{id}), or `rejected` at once with the reason."""
    character = get_object_or_404(characters(), slug=slug)
    if len(files) > MAX_FILES:
        raise Invalid.of("files", f"Upload at most {MAX_FILES} files at a time.")
    received = ingest.receive(character=character, files=files, created_by=request.user)
    return Status(202, received)


# Beside `GET /characters/{slug}/images`, on the characters' router only: one path, one
# router, one operation (registered on this router too, it was a second, unreachable copy).
characters_router.add_api_operation(
    "/characters/{slug}/images",
    ["POST"],
    upload_images,
    response={202: list[UploadOut], 400: Error, 404: Error, 429: Error},
    tags=["uploads"],
)


@router.get("/uploads/{upload_id}", response=UploadOut)
def get_upload(request, upload_id: UUID):
    """Where one upload stands: queued, accepted (the image), duplicate (of which image) or
    rejected (why)."""
    return get_object_or_404(Upload.objects.select_related("image"), id=upload_id)
