from django.contrib import admin

from lorastudio.admin_display import pretty_json, thumbnail_html

from .models import Dataset, DatasetExport, DatasetItem


class DatasetItemInline(admin.TabularInline):
    model = DatasetItem
    extra = 0
    fields = ["thumb", "image", "caption", "shot_type", "included", "order"]
    readonly_fields = ["thumb"]
    raw_id_fields = ["image"]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.image, size=48)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "character", "created_by", "created_at"]
    list_filter = ["character"]
    search_fields = ["name", "character__name", "notes"]
    list_select_related = ["character", "created_by"]
    inlines = [DatasetItemInline]


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ["thumb", "dataset", "shot_type", "included", "caption"]
    list_filter = ["shot_type", "included", "dataset__character"]
    search_fields = ["caption", "dataset__name"]
    list_select_related = ["dataset__character", "image"]
    raw_id_fields = ["image", "dataset"]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.image, size=48)


@admin.register(DatasetExport)
class DatasetExportAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "status", "image_count", "size_bytes", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["id", "dataset__name", "sha256"]
    list_select_related = ["dataset__character"]
    readonly_fields = [
        "id",
        "dataset",
        "status",
        "archive",
        "manifest_pretty",
        "image_count",
        "size_bytes",
        "sha256",
        "error",
        "created_by",
        "created_at",
    ]
    exclude = ["manifest"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Manifest")
    def manifest_pretty(self, obj):
        return pretty_json(obj.manifest)
