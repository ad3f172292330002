"""Training sets: the images chosen for a LoRA, their captions and shot types, frozen exports."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from characters.models import ShotType
from lorastudio.models import TimeStamped


class Dataset(TimeStamped):
    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=100)
    notes = models.TextField(blank=True)
    caption_template = models.CharField(
        max_length=300,
        default="{trigger}, {caption}",
        help_text="How export captions are written; {trigger} and {caption} are filled in.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["character", "name"], name="dataset_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.character} · {self.name}"


class DatasetItem(TimeStamped):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(
        "characters.Image", on_delete=models.RESTRICT, related_name="dataset_items"
    )
    caption = models.TextField(blank=True)
    shot_type = models.CharField(max_length=8, choices=ShotType.choices, default=ShotType.UNKNOWN)
    face_ratio = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Face area over image area, when a face was found.",
    )
    concepts = models.JSONField(default=list, blank=True)
    included = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["dataset", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "image"], name="dataset_item_unique"),
            models.CheckConstraint(
                condition=Q(face_ratio__isnull=True)
                | (Q(face_ratio__gte=0) & Q(face_ratio__lte=1)),
                name="dataset_item_face_ratio_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} · image {self.image_id}"


class DatasetExport(TimeStamped):
    """A frozen training set: a zip of images and caption files, with its manifest."""

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="exports")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    archive = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    image_count = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(archive=""), name="export_ready_has_archive"
            ),
        ]

    def __str__(self) -> str:
        return f"Export of {self.dataset} ({self.image_count} images)"


class Upload(TimeStamped):
    """A file a person uploaded, waiting for (or done with) its ingest in a worker.

    The web process only streams the file into storage and saves this row; the worker
    decodes it and makes the Image, or says why not. The raw file is deleted once ingested."""

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued for ingest"
        ACCEPTED = "accepted", "Accepted"
        DUPLICATE = "duplicate", "Duplicate"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="uploads"
    )
    raw = models.FileField(upload_to="uploads/raw/%Y/%m/", blank=True)
    original_filename = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.QUEUED)
    reason = models.TextField(blank=True)
    image = models.ForeignKey(
        "characters.Image",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="uploads",
        help_text="The image made, or the one this file duplicates.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.get_outcome_display()})"
