from django.contrib import admin
from django.db.models import Count

from lorastudio.admin_display import thumbnail_html

from .models import (
    Anchor,
    Character,
    Image,
    ImageEmbedding,
    LikenessScore,
    Pose,
    Preset,
    PresetPose,
    PresetVariation,
    Variation,
)


class PresetPoseInline(admin.TabularInline):
    model = PresetPose
    extra = 0


class PresetVariationInline(admin.TabularInline):
    model = PresetVariation
    extra = 0
    fk_name = "preset"
    fields = ["order", "key", "label", "prompt", "anchor_pose", "strength", "count"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "anchor_pose" and request.resolver_match.kwargs.get("object_id"):
            kwargs["queryset"] = PresetPose.objects.filter(
                preset_id=request.resolver_match.kwargs["object_id"]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ["label", "key", "pose_count", "variation_count", "updated_at"]
    search_fields = ["key", "label"]
    inlines = [PresetPoseInline, PresetVariationInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _poses=Count("poses", distinct=True), _variations=Count("variations", distinct=True)
            )
        )

    @admin.display(description="Poses", ordering="_poses")
    def pose_count(self, obj):
        return obj._poses

    @admin.display(description="Variations", ordering="_variations")
    def variation_count(self, obj):
        return obj._variations


class PoseInline(admin.TabularInline):
    model = Pose
    extra = 0
    fields = ["order", "key", "label", "prompt"]


class VariationInline(admin.TabularInline):
    model = Variation
    extra = 0
    fields = ["order", "key", "label", "prompt", "anchor_pose", "strength", "count"]
    show_change_link = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "anchor_pose" and request.resolver_match.kwargs.get("object_id"):
            kwargs["queryset"] = Pose.objects.filter(
                character_id=request.resolver_match.kwargs["object_id"]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    list_display = ["name", "trigger_word", "preset", "image_count", "created_by", "created_at"]
    list_filter = ["preset", "created_at"]
    search_fields = ["name", "trigger_word", "slug", "base_prompt"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at", "created_by"]
    inlines = [PoseInline, VariationInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("preset", "created_by")
            .annotate(_images=Count("images"))
        )

    @admin.display(description="Images", ordering="_images")
    def image_count(self, obj):
        return obj._images

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Variation)
class VariationAdmin(admin.ModelAdmin):
    list_display = ["label", "character", "anchor_pose", "strength", "count"]
    list_filter = ["character", "anchor_pose__key"]
    search_fields = ["label", "key", "prompt", "character__name"]
    list_select_related = ["character", "anchor_pose"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "thumb",
        "id",
        "character",
        "kind",
        "pose",
        "variation",
        "review",
        "starred",
        "created_at",
    ]
    list_display_links = ["thumb", "id"]
    list_filter = ["kind", "review", "starred", "character"]
    search_fields = ["id", "prompt", "caption", "original_filename", "character__name", "sha256"]
    list_select_related = ["character", "pose", "variation"]
    list_editable = ["review", "starred"]
    list_per_page = 60
    date_hierarchy = "created_at"
    raw_id_fields = ["source_image", "call", "character", "pose", "variation"]
    readonly_fields = [
        "preview",
        "width",
        "height",
        "sha256",
        "created_at",
        "created_by",
        "reviewed_by",
    ]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj)

    @admin.display(description="Preview")
    def preview(self, obj):
        return thumbnail_html(obj, size=320)


@admin.register(Anchor)
class AnchorAdmin(admin.ModelAdmin):
    list_display = ["thumb", "character", "pose", "picked_by", "updated_at"]
    list_filter = ["character"]
    list_select_related = ["character", "pose", "image", "picked_by"]
    raw_id_fields = ["image"]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.image)


@admin.register(ImageEmbedding)
class ImageEmbeddingAdmin(admin.ModelAdmin):
    """Likeness vectors: read here, made only by the worker (characters.likeness)."""

    list_display = ["image", "measure", "model", "flag", "face_px", "updated_at"]
    list_filter = ["measure", "flag"]
    list_select_related = ["image__character"]
    raw_id_fields = ["image"]
    readonly_fields = ["image", "measure", "model", "flag", "vector", "face_px"]


@admin.register(LikenessScore)
class LikenessScoreAdmin(admin.ModelAdmin):
    list_display = ["image", "measure", "reference", "score", "distance", "flag", "primary"]
    list_filter = ["measure", "flag", "primary"]
    list_select_related = ["image__character"]
    raw_id_fields = ["image"]
    readonly_fields = [
        "image", "measure", "model", "reference", "reference_key", "distance", "score", "flag",
        "primary",
    ]  # fmt: skip
