"""Training sets: the images chosen for a LoRA, their captions and shot types, frozen exports."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from lorastudio.errors import Conflict
from lorastudio.models import TimeStamped

DEFAULT_RESOLUTION = 1024


class Dataset(TimeStamped):
    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=100)
    notes = models.TextField(blank=True)
    caption_template = models.CharField(
        max_length=300,
        default="{trigger}, {caption}",
        help_text="How export captions are written: {trigger}, {caption}, {pose} and {shot} "
        "are filled in.",
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
    """One image in a dataset, with its caption. The shot type is the image's own (one truth)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(
        "characters.Image", on_delete=models.RESTRICT, related_name="dataset_items"
    )
    caption = models.TextField(
        blank=True, help_text="What the picture shows; the dataset's template adds the trigger."
    )
    concepts = models.JSONField(default=list, blank=True)
    included = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["dataset", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "image"], name="dataset_item_unique"),
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
    resolution = models.PositiveIntegerField(
        default=DEFAULT_RESOLUTION, help_text="Longest side of the exported images, in pixels."
    )
    manifest = models.JSONField(default=dict, blank=True)
    image_count = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    # The sha256 of what was frozen (manifest and resolution): an export asked for again with
    # nothing changed reuses this one instead of building the same zip twice.
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(
        default=timezone.now, help_text="When its build was last queued (the sweep re-queues)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(archive=""), name="export_ready_has_archive"
            ),
            models.CheckConstraint(
                condition=Q(resolution__gte=256) & Q(resolution__lte=4096),
                name="export_resolution_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Export of {self.dataset} ({self.image_count} images)"

    def save(self, *args, **kwargs):
        # Training only reads exports, so what a LoRA was trained on must never move.
        if (
            not self._state.adding
            and DatasetExport.objects.filter(pk=self.pk, status=self.Status.READY).exists()
        ):
            raise ExportFrozen("A ready export never changes: make a new export instead.")
        super().save(*args, **kwargs)


class ExportFrozen(Conflict):
    """Something tried to change an export that is ready."""


class ConceptCategory(models.Model):
    """A group of the concept taxonomy (clothing, pose, setting...): one per installation.

    There is no team model, so "per team" means per installation: the rows are seeded from
    datasets/taxonomy.json (`manage.py load_taxonomy`) and edited in the admin.
    """

    key = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=80)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "key"]
        verbose_name_plural = "concept categories"

    def __str__(self) -> str:
        return self.label


class Concept(models.Model):
    """A term found in captions, with the other words that mean it."""

    category = models.ForeignKey(ConceptCategory, on_delete=models.CASCADE, related_name="concepts")
    name = models.SlugField(max_length=60, help_text="As it is counted: smiling, natural_light.")
    synonyms = models.CharField(
        max_length=400,
        blank=True,
        help_text="Comma-separated words or phrases that also mean it (the name always counts).",
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["category__order", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["category", "name"], name="concept_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.category.key}/{self.name}"


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
    queued_at = models.DateTimeField(
        default=timezone.now, help_text="When its ingest was last queued (the sweep re-queues)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.get_outcome_display()})"
