"""Shared model bases, and API tokens (the project's own auth concern)."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(TimeStamped):
    """A bearer token for the JSON API. Only a hash is stored; the key is shown once."""

    PREFIX = "ls_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="What the token is for, e.g. 'video pipeline'."
    )
    key_prefix = models.CharField(max_length=12, editable=False, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def new_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    def set_key(self, key: str) -> None:
        self.key_prefix = key[:8]
        self.key_hash = self.hash_key(key)


class StudioPermission(models.Model):  # noqa: DJ008 (no rows to show)
    """Holds no rows: it carries the studio's permissions, which the roles (groups) are made of
    (lorastudio.roles). Each names an action, so a refusal can say which one is missing."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("browse", "Browse characters, images, runs and LoRAs; download; read the API"),
            ("edit_characters", "Create and edit characters, variations and anchors"),
            ("curate", "Review, star and upload images"),
            ("launch_runs", "Launch, cancel and re-send paid runs (within the budget)"),
            ("edit_datasets", "Build datasets: items, captions, caption runs"),
            ("export_datasets", "Export training sets"),
            ("train", "Start, cancel and repeat trainings"),
            ("review_loras", "Approve or retire LoRA versions"),
            ("pin", "Pin a character's references"),
            ("manage_webhooks", "Register and remove outgoing webhooks"),
            ("manage_budgets", "Set budgets and approve runs above the threshold"),
            ("view_usage", "See spending by month, user, character and provider"),
            ("administer", "Anything not listed above"),
        ]


class AuditEvent(models.Model):
    """One thing that matters, as it happened: who, when, what, from which address.

    Written by `lorastudio.audit.record` only; never edited (the admin is read-only)."""

    class Action(models.TextChoices):
        RUN_LAUNCHED = "run.launched", "Run launched"
        RUN_CANCELED = "run.canceled", "Run canceled"
        RUN_HELD = "run.held", "Run waiting for approval"
        RUN_APPROVED = "run.approved", "Run approved"
        RUN_DECLINED = "run.declined", "Run declined"
        RUN_REFUSED = "run.refused", "Launch refused by the budget"
        CALL_RESENT = "call.resent", "Unknown call sent again"
        IMAGES_REVIEWED = "images.reviewed", "Images reviewed in bulk"
        EXPORT_MADE = "export.made", "Training set exported"
        TRAINING_STARTED = "training.started", "Training started"
        TRAINING_CANCELED = "training.canceled", "Training canceled"
        LORA_APPROVED = "lora.approved", "LoRA version approved"
        LORA_RETIRED = "lora.retired", "LoRA version retired"
        PIN_CHANGED = "pin.changed", "Pin changed"
        BUDGET_CHANGED = "budget.changed", "Budget changed"
        ROLE_CHANGED = "role.changed", "Role changed"
        TOKEN_MADE = "token.made", "API token made"
        TOKEN_REVOKED = "token.revoked", "API token revoked"

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    actor_name = models.CharField(max_length=150, blank=True, editable=False)
    address = models.GenericIPAddressField(null=True, blank=True, editable=False)
    action = models.CharField(max_length=24, choices=Action.choices, db_index=True)
    summary = models.CharField(max_length=300, editable=False)
    target = models.CharField(max_length=100, blank=True, editable=False, db_index=True)
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'}: {self.summary}"


class IdempotencyKey(TimeStamped):
    """A request that spends money, made once per user and key: a confirm page's one-time
    token, or the `Idempotency-Key` header of an API POST (lorastudio.idempotency).

    The row is inserted in the same transaction as what the request starts, so the unique
    constraint is what makes two identical submits racing from two connections start one
    thing: the second waits for the first to commit, then reads what it started.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of what was asked.")
    label = models.CharField(max_length=200, blank=True, help_text="What it started: “Run #2”.")
    url = models.CharField(max_length=300, blank=True, help_text="Where that lives.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_type = models.CharField(max_length=100, blank=True)
    response_body = models.TextField(blank=True, help_text="The API's first answer, replayed.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.key[:12]}… → {self.label or self.response_status}"
