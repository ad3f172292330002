"""LoRA training jobs, the trained versions, versioned pins, presets, notifications and the
outgoing webhooks that tell downstream pipelines when a pin changes or a training ends."""

import base64
import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from generation.models import MONEY, Provider
from lorastudio.models import TimeStamped

STEPS_VALIDATORS = [MinValueValidator(100), MaxValueValidator(10000)]
LEARNING_RATE_VALIDATORS = [
    MinValueValidator(Decimal("0.0000001")),
    MaxValueValidator(Decimal("0.01")),
]
RANK_VALIDATORS = [MinValueValidator(4), MaxValueValidator(128)]
BATCH_VALIDATORS = [MinValueValidator(1), MaxValueValidator(8)]
SCALE_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("2"))]


class TrainingParams(models.Model):
    """The trainer settings a job runs with (and a saved preset stores)."""

    steps = models.PositiveIntegerField(default=1000, validators=STEPS_VALIDATORS)
    learning_rate = models.DecimalField(
        max_digits=8,
        decimal_places=7,
        default=Decimal("0.0004"),
        validators=LEARNING_RATE_VALIDATORS,
    )
    rank = models.PositiveSmallIntegerField(default=16, validators=RANK_VALIDATORS)
    resolution = models.CharField(
        max_length=20, default="768,1024", help_text="Comma-separated training resolutions."
    )
    batch_size = models.PositiveSmallIntegerField(default=1, validators=BATCH_VALIDATORS)

    class Meta:
        abstract = True


class TrainingJob(TimeStamped, TrainingParams):
    """Training one LoRA on a frozen export. The provider request itself is a ProviderCall."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    ENDED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

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
    preset = models.CharField(max_length=60, blank=True, help_text="The preset it started from.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger_word = models.CharField(max_length=24)
    # What was sent: a setting the provider's trainer does not take (fal sets the learning
    # rate, rank, resolution and batch size itself) is empty, not a number it never saw.
    learning_rate = models.DecimalField(
        max_digits=8,
        decimal_places=7,
        null=True,
        blank=True,
        validators=LEARNING_RATE_VALIDATORS,
    )
    rank = models.PositiveSmallIntegerField(null=True, blank=True, validators=RANK_VALIDATORS)
    resolution = models.CharField(  # noqa: DJ001 -- None is "not sent", "" would be a value
        max_length=20, null=True, blank=True, help_text="Comma-separated training resolutions."
    )
    batch_size = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=BATCH_VALIDATORS
    )
    optimizer = models.CharField(max_length=20, default="adamw8bit")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.PositiveIntegerField(null=True, blank=True, help_text="Last step in the logs.")
    eta_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time left, as the trainer or the step rate says."
    )
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    estimated_cost = models.DecimalField(**MONEY, default=0)
    estimated_seconds = models.PositiveIntegerField(default=0)
    actual_cost = models.DecimalField(**MONEY, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
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
                condition=Q(rank__isnull=True) | (Q(rank__gte=4) & Q(rank__lte=128)),
                name="training_rank_range",
            ),
            models.CheckConstraint(
                condition=Q(learning_rate__isnull=True)
                | (Q(learning_rate__gt=0) & Q(learning_rate__lte=Decimal("0.01"))),
                name="training_learning_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Training #{self.pk} of {self.character} on {self.provider}"

    def get_absolute_url(self) -> str:
        return reverse("training:job_detail", kwargs={"job_id": self.pk})

    @property
    def is_live(self) -> bool:
        return self.status not in self.ENDED

    @property
    def queued_seconds(self) -> int | None:
        """How long it has waited for the provider to start it (while queued)."""
        if self.status != self.Status.QUEUED:
            return None
        return max(0, int((timezone.now() - self.created_at).total_seconds()))

    @property
    def elapsed_seconds(self) -> int | None:
        """Time at the provider so far (or in all, once ended)."""
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max(0, int((end - self.started_at).total_seconds()))


class TrainingSample(TimeStamped):
    """An image of the reference suite the trainer rendered at a step while it trained."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="samples")
    step = models.PositiveIntegerField()
    shot = models.CharField(max_length=20, help_text="Which prompt of the reference suite.")
    image = models.ImageField(upload_to="training-samples/%Y/%m/")

    class Meta:
        ordering = ["job", "-step", "shot"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "step", "shot"], name="training_sample_once_per_step"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} · step {self.step} · {self.shot}"


class TrainingPreset(TimeStamped, TrainingParams):
    """Trainer settings saved for reuse. Presets are shared by everyone on this installation
    (the installation is the team: there is no team model)."""

    name = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LoraModel(TimeStamped):
    """A trained LoRA version, its weights copied into our storage (seed 004's LoRA table)."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        APPROVED = "approved", "Approved"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    USABLE = (Status.READY, Status.APPROVED)

    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="loras"
    )
    training_job = models.OneToOneField(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="lora"
    )
    export = models.ForeignKey(
        "datasets.DatasetExport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="loras",
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
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["character", "-version"]
        verbose_name = "LoRA model"
        constraints = [
            models.UniqueConstraint(fields=["character", "version"], name="lora_version_unique"),
            models.CheckConstraint(
                condition=~Q(status__in=["ready", "approved"]) | ~Q(weights=""),
                name="lora_usable_has_weights",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.character} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("training:lora_detail", kwargs={"lora_id": self.pk})

    @property
    def is_usable(self) -> bool:
        return self.status in self.USABLE


class Pin(TimeStamped):
    """One version of what downstream pipelines use for a character: a primary image,
    references with roles, optionally a LoRA and its scale. The newest version is current;
    earlier ones are kept as they were."""

    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="pins"
    )
    version = models.PositiveIntegerField()
    primary_image = models.ForeignKey(
        "characters.Image", on_delete=models.RESTRICT, related_name="primary_for"
    )
    lora = models.ForeignKey(
        LoraModel, null=True, blank=True, on_delete=models.RESTRICT, related_name="pins"
    )
    lora_scale = models.DecimalField(
        max_digits=3, decimal_places=2, default=Decimal("1.00"), validators=SCALE_VALIDATORS
    )

    class PackStatus(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    note = models.CharField(max_length=200, blank=True)
    pack = models.FileField(upload_to="packs/%Y/%m/", blank=True, help_text="Character pack zip.")
    pack_sha256 = models.CharField(max_length=64, blank=True)
    # The pack is built by a worker after the pin is saved; the sweep re-queues a lost build.
    pack_status = models.CharField(
        max_length=10, choices=PackStatus.choices, default=PackStatus.BUILDING
    )
    pack_error = models.TextField(blank=True)
    pack_queued_at = models.DateTimeField(default=timezone.now)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["character", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["character", "version"], name="pin_version_unique"),
            models.CheckConstraint(
                condition=Q(lora_scale__gte=0) & Q(lora_scale__lte=2), name="pin_lora_scale_0_2"
            ),
            models.CheckConstraint(
                condition=~Q(pack_status="ready") | ~Q(pack=""), name="pin_pack_ready_has_file"
            ),
        ]

    def __str__(self) -> str:
        return f"Pin v{self.version} of {self.character}"

    def get_absolute_url(self) -> str:
        return reverse(
            "training:pin_detail", kwargs={"slug": self.character.slug, "version": self.version}
        )


class PinReference(models.Model):
    """A reference image of a pin, with its role (seed 004: frontal, side, action, ...)."""

    class Role(models.TextChoices):
        FRONTAL = "frontal", "Frontal"
        SIDE = "side", "Side"
        THREE_QUARTER = "three_quarter", "Three-quarter"
        BACK = "back", "Back"
        ACTION = "action", "Action"
        CLOSE_UP = "close_up", "Close-up"
        REFERENCE = "reference", "Reference"

    pin = models.ForeignKey(Pin, on_delete=models.CASCADE, related_name="references")
    image = models.ForeignKey("characters.Image", on_delete=models.RESTRICT, related_name="+")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REFERENCE)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["pin", "order"]
        constraints = [
            models.UniqueConstraint(fields=["pin", "image"], name="pin_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pin} · {self.get_role_display()}"


class Notification(TimeStamped):
    """Something a user should see on their next page view (a training ended)."""

    class Level(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"
        INFO = "info", "Info"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.title


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(TimeStamped):
    """A URL of this installation's downstream tools that receives signed events."""

    class Event(models.TextChoices):
        PIN_CHANGED = "pin.changed", "Pin changed"
        TRAINING_ENDED = "training.ended", "Training ended"

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types; empty means all.")
    secret = models.CharField(max_length=80, default=new_webhook_secret, editable=False)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class WebhookDelivery(TimeStamped):
    """One event sent (or being sent) to one endpoint: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint} ({self.status})"

    @property
    def message_id(self) -> str:
        return f"msg_{self.id.hex}"
