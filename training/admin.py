from django.contrib import admin

from lorastudio.admin_display import thumbnail_html

from .models import (
    LoraModel,
    Notification,
    Pin,
    PinReference,
    TrainingJob,
    TrainingPreset,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "character",
        "provider",
        "status",
        "progress",
        "step",
        "steps",
        "rank",
        "learning_rate",
        "actual_cost",
        "created_at",
    ]
    list_filter = ["status", "provider", "created_at"]
    search_fields = ["id", "character__name", "trigger_word", "error"]
    list_select_related = ["character"]
    raw_id_fields = ["export", "call"]
    readonly_fields = [
        "call",
        "progress",
        "step",
        "eta_seconds",
        "started_at",
        "logs",
        "error",
        "estimated_cost",
        "actual_cost",
        "finished_at",
        "created_by",
        "created_at",
    ]


@admin.register(LoraModel)
class LoraModelAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "character",
        "version",
        "status",
        "trigger_word",
        "size_bytes",
        "approved_at",
        "created_at",
    ]
    list_filter = ["status", "character"]
    search_fields = ["character__name", "trigger_word", "sha256"]
    list_select_related = ["character"]
    raw_id_fields = ["training_job"]
    readonly_fields = ["provider_weights_url", "size_bytes", "sha256", "created_at"]


class PinReferenceInline(admin.TabularInline):
    model = PinReference
    extra = 0
    fields = ["thumb", "image", "role", "order"]
    readonly_fields = ["thumb"]
    raw_id_fields = ["image"]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.image, size=48)


@admin.register(Pin)
class PinAdmin(admin.ModelAdmin):
    list_display = [
        "thumb",
        "character",
        "version",
        "lora",
        "lora_scale",
        "pinned_by",
        "created_at",
    ]
    list_filter = ["character"]
    list_select_related = ["character", "lora", "primary_image", "pinned_by"]
    raw_id_fields = ["primary_image", "lora"]
    readonly_fields = ["pack", "pack_sha256"]
    inlines = [PinReferenceInline]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.primary_image)


@admin.register(TrainingPreset)
class TrainingPresetAdmin(admin.ModelAdmin):
    list_display = ["name", "steps", "learning_rate", "rank", "resolution", "batch_size"]
    search_fields = ["name"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "level", "created_at", "read_at", "emailed_at"]
    list_filter = ["level", "read_at"]
    search_fields = ["title", "user__username"]


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    fields = ["event_type", "status", "attempts", "response_status", "error", "created_at"]
    readonly_fields = fields
    ordering = ["-created_at"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "events", "active", "created_at"]
    list_filter = ["active"]
    readonly_fields = ["secret"]
    inlines = [WebhookDeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "endpoint", "status", "attempts", "response_status"]
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    readonly_fields = [
        "endpoint",
        "event_type",
        "payload",
        "attempts",
        "response_status",
        "response_body",
        "error",
        "next_attempt_at",
        "delivered_at",
    ]
