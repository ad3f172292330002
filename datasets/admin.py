from django.contrib import admin

from lorastudio.admin_display import pretty_json, thumbnail_html

from . import services
from .models import Concept, ConceptCategory, Dataset, DatasetExport, DatasetItem


class DatasetItemInline(admin.TabularInline):
    model = DatasetItem
    extra = 0
    fields = ["thumb", "image", "caption", "shot_type", "included", "order"]
    readonly_fields = ["thumb", "shot_type"]
    raw_id_fields = ["image"]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.image, size=48)

    @admin.display(description="Shot type")
    def shot_type(self, obj):
        return obj.image.get_shot_type_display()


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "character", "created_by", "created_at"]
    list_filter = ["character"]
    search_fields = ["name", "character__name", "notes"]
    list_select_related = ["character", "created_by"]
    inlines = [DatasetItemInline]
    actions = ["extract_concepts_again"]

    @admin.action(description="Extract concepts again (after editing the taxonomy)")
    def extract_concepts_again(self, request, queryset):
        items = sum(services.refresh_concepts(dataset=dataset) for dataset in queryset)
        self.message_user(request, f"Concepts extracted again for {items} items.")


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ["thumb", "dataset", "shot_type", "included", "caption"]
    list_filter = ["image__shot_type", "included", "dataset__character"]
    search_fields = ["caption", "dataset__name"]
    list_select_related = ["dataset__character", "image"]
    raw_id_fields = ["image", "dataset"]

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj.image, size=48)

    @admin.display(description="Shot type (the image's)")
    def shot_type(self, obj):
        return obj.image.get_shot_type_display()


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
        "resolution",
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

    def has_change_permission(self, request, obj=None):
        # A ready export is frozen: training read it, so it is shown, never saved again.
        return obj is None or obj.status != DatasetExport.Status.READY

    @admin.display(description="Manifest")
    def manifest_pretty(self, obj):
        return pretty_json(obj.manifest)


class ConceptInline(admin.TabularInline):
    model = Concept
    extra = 1
    fields = ["name", "synonyms", "order"]


@admin.register(ConceptCategory)
class ConceptCategoryAdmin(admin.ModelAdmin):
    """The concept taxonomy (one per installation), seeded by `manage.py load_taxonomy`."""

    list_display = ["label", "key", "order", "concept_count"]
    search_fields = ["key", "label", "concepts__name", "concepts__synonyms"]
    inlines = [ConceptInline]

    @admin.display(description="Concepts")
    def concept_count(self, obj):
        return obj.concepts.count()
