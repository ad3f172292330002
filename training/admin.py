from django.contrib import admin

from lorastudio.admin_display import thumbnail_html

from .models import LoraModel, Pin, PinReference, TrainingJob


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "character",
        "provider",
        "status",
        "progress",
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
    list_display = ["thumb", "character", "lora", "pinned_by", "updated_at"]
    list_select_related = ["character", "lora", "primary_image", "pinned_by"]
    raw_id_fields = ["primary_image", "lora"]
    inlines = [PinReferenceInline]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.primary_image)
