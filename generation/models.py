"""Runs a user launches, and the durable row behind every paid provider request."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from lorastudio.models import TimeStamped

MONEY = {"max_digits": 10, "decimal_places": 4}


class Provider(models.TextChoices):
    LOCAL = "local", "Local simulator"
    FAL = "fal", "fal.ai"
    REPLICATE = "replicate", "Replicate"


class Task(models.TextChoices):
    TEXT_TO_IMAGE = "text_to_image", "Text to image"
    IMAGE_TO_IMAGE = "image_to_image", "Image to image"
    MULTI_REFERENCE_EDIT = "multi_reference_edit", "Multi-reference edit"
    LORA_TEXT_TO_IMAGE = "lora_text_to_image", "LoRA text to image"
    TRAIN_LORA = "train_lora", "LoRA training"
    CAPTION = "caption", "Caption"
    EMBED_IMAGE = "embed_image", "Image embedding"


class GenerationRun(TimeStamped):
    """A batch of calls the user launched: anchor candidates, variations, a reference set or
    the captions of a dataset."""

    class Kind(models.TextChoices):
        ANCHORS = "anchors", "Anchor candidates"
        VARIATIONS = "variations", "Variations"
        REFERENCE_SET = "reference_set", "Reference set"
        CAPTIONS = "captions", "Captions"
        LIKENESS = "likeness", "Whole-figure likeness"

    class Status(models.TextChoices):
        HELD = "held", "Waiting for a lead's approval"
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partly failed"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    character = models.ForeignKey(
        "characters.Character", on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(max_length=12, choices=Provider.choices)
    params = models.JSONField(default=dict, blank=True, help_text="What was asked for.")
    estimated_cost = models.DecimalField(**MONEY, default=0)
    actual_cost = models.DecimalField(**MONEY, default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The lead who approved or declined a run above the approval threshold.",
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(estimated_cost__gte=0) & Q(actual_cost__gte=0),
                name="run_costs_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run #{self.pk} for {self.character}"


class ProviderCall(TimeStamped):
    """One paid request to a provider. The row exists before the submit; at most one submit."""

    class Status(models.TextChoices):
        HELD = "held", "Waiting for approval"  # counted as reserved; never sent until approved
        CREATED = "created", "Queued"
        SUBMITTING = "submitting", "Submitting"
        SUBMITTED = "submitted", "Submitted"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded (downloading)"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        UNKNOWN = "unknown", "Outcome unknown"

    # Holding a provider slot: counted against the provider's concurrency cap.
    AT_PROVIDER = (Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING)
    TERMINAL = (Status.DONE, Status.FAILED, Status.CANCELED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(
        GenerationRun, null=True, blank=True, on_delete=models.CASCADE, related_name="calls"
    )
    provider = models.CharField(max_length=12, choices=Provider.choices)
    task = models.CharField(max_length=24, choices=Task.choices)
    endpoint = models.CharField(max_length=200, help_text="Model or endpoint id at the provider.")
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.CREATED, db_index=True
    )
    request = models.JSONField(default=dict, help_text="The input sent to the provider.")
    context = models.JSONField(
        default=dict, blank=True, help_text="Our side: pose, variation, source image, seed."
    )
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    response = models.JSONField(null=True, blank=True, help_text="The provider's last payload.")
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent, when known.")
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Submits refused by the provider."
    )
    polls = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When to retry the submit or poll next."
    )
    sending_at = models.DateTimeField(
        null=True, blank=True, help_text="Set just before the submit request leaves."
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    units = models.DecimalField(max_digits=10, decimal_places=2, default=1)
    estimated_cost = models.DecimalField(**MONEY, default=0)
    actual_cost = models.DecimalField(**MONEY, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["provider", "status"], name="call_provider_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=~Q(external_id=""),
                name="call_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(estimated_cost__gte=0)
                & (Q(actual_cost__isnull=True) | Q(actual_cost__gte=0)),
                name="call_costs_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["held", "created", "submitting", "failed", "canceled", "unknown"]
                )
                | ~Q(external_id=""),
                name="call_at_provider_has_external_id",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="call_progress_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.get_task_display()} on {self.provider} ({self.get_status_display()})"


class Budget(TimeStamped):
    """The installation's spending rules: one row, locked by every launch while it checks
    and reserves (generation.budgets), so launches at the same moment cannot overspend."""

    monthly_limit = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="USD per calendar month; empty: no limit."
    )
    per_run_cap = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Most one run (or training) may cost."
    )
    approval_threshold = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="A run costing more waits for a lead's approval (leads' own runs do not).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(monthly_limit__isnull=True) | Q(monthly_limit__gte=0))
                & (Q(per_run_cap__isnull=True) | Q(per_run_cap__gte=0))
                & (Q(approval_threshold__isnull=True) | Q(approval_threshold__gte=0)),
                name="budget_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return "Installation budget"


class UserBudget(TimeStamped):
    """One login's monthly limit, inside the installation's."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget"
    )
    monthly_limit = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="USD per calendar month; empty: no limit."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_limit__isnull=True) | Q(monthly_limit__gte=0),
                name="user_budget_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.user}"
