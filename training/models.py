"""LoRA training jobs, the trained versions, and the pin downstream pipelines read."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from generation.models import MONEY, Provider
from lorastudio.models import TimeStamped


class TrainingJob(TimeStamped):
    """Training one LoRA on a frozen export. The provider request itself is a ProviderCall."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="training_jobs"
    )
    export = models.ForeignKey(
        "datasets.DatasetExport", on_delete=models.RESTRICT, related_name="training_jobs"
    )
    call = models.OneToOneField(
        "generation.ProviderCall",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_job",
    )
    provider = models.CharField(max_length=12, choices=Provider.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger_word = models.CharField(max_length=24)
    steps = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(100), MaxValueValidator(10000)]
    )
    learning_rate = models.DecimalField(
        max_digits=8,
        decimal_places=7,
        default=Decimal("0.0004"),
        validators=[MinValueValidator(Decimal("0.0000001")), MaxValueValidator(Decimal("0.01"))],
    )
    rank = models.PositiveSmallIntegerField(
        default=16, validators=[MinValueValidator(4), MaxValueValidator(128)]
    )
    resolution = models.CharField(
        max_length=20, default="768,1024", help_text="Comma-separated training resolutions."
    )
    batch_size = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(8)]
    )
    optimizer = models.CharField(max_length=20, default="adamw8bit")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    estimated_cost = models.DecimalField(**MONEY, default=0)
    actual_cost = models.DecimalField(**MONEY, null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="training_progress_0_100"),
            models.CheckConstraint(
                condition=Q(steps__gte=100) & Q(steps__lte=10000), name="training_steps_range"
            ),
            models.CheckConstraint(
                condition=Q(rank__gte=4) & Q(rank__lte=128), name="training_rank_range"
            ),
            models.CheckConstraint(
                condition=Q(learning_rate__gt=0) & Q(learning_rate__lte=Decimal("0.01")),
                name="training_learning_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Training #{self.pk} of {self.character} on {self.provider}"


class LoraModel(TimeStamped):
    """A trained LoRA version, its weights copied into our storage (seed 004's LoRA table)."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        ARCHIVED = "archived", "Archived"

    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="loras"
    )
    training_job = models.OneToOneField(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="lora"
    )
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    trigger_word = models.CharField(max_length=24)
    weights = models.FileField(upload_to="loras/%Y/%m/", blank=True)
    config_file = models.FileField(upload_to="loras/%Y/%m/", blank=True)
    provider_weights_url = models.URLField(
        max_length=1000, blank=True, help_text="Provenance only."
    )
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["character", "-version"]
        verbose_name = "LoRA model"
        constraints = [
            models.UniqueConstraint(fields=["character", "version"], name="lora_version_unique"),
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(weights=""), name="lora_ready_has_weights"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.character} v{self.version}"


class Pin(TimeStamped):
    """What downstream pipelines use for a character: a primary image, references, a LoRA."""

    character = models.OneToOneField(
        "characters.Character", on_delete=models.CASCADE, related_name="pin"
    )
    primary_image = models.ForeignKey(
        "characters.Image", on_delete=models.RESTRICT, related_name="primary_for"
    )
    lora = models.ForeignKey(
        LoraModel, null=True, blank=True, on_delete=models.RESTRICT, related_name="pins"
    )
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Pin of {self.character}"


class PinReference(models.Model):
    """A reference image of a pin, with its role (seed 004: frontal, side, action, reference)."""

    class Role(models.TextChoices):
        FRONTAL = "frontal", "Frontal"
        SIDE = "side", "Side"
        BACK = "back", "Back"
        ACTION = "action", "Action"
        REFERENCE = "reference", "Reference"

    pin = models.ForeignKey(Pin, on_delete=models.CASCADE, related_name="references")
    image = models.ForeignKey("characters.Image", on_delete=models.RESTRICT, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REFERENCE)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["pin", "order"]
        constraints = [
            models.UniqueConstraint(fields=["pin", "image"], name="pin_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pin} · {self.get_role_display()}"
