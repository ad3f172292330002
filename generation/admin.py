from django.contrib import admin

from lorastudio.admin_display import pretty_json

from .models import GenerationRun, ProviderCall


class ProviderCallInline(admin.TabularInline):
    model = ProviderCall
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["task", "endpoint", "status", "external_id", "estimated_cost", "actual_cost", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GenerationRun)
class GenerationRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "character",
        "kind",
        "provider",
        "status",
        "estimated_cost",
        "actual_cost",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "status", "provider", "created_at"]
    search_fields = ["id", "character__name", "error"]
    list_select_related = ["character", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "params_pretty",
        "estimated_cost",
        "actual_cost",
        "created_by",
        "created_at",
        "finished_at",
    ]
    exclude = ["params"]
    inlines = [ProviderCallInline]

    @admin.display(description="Params")
    def params_pretty(self, obj):
        return pretty_json(obj.params)


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    """Provider payloads are records of what was paid for: read-only."""

    list_display = [
        "id",
        "provider",
        "task",
        "status",
        "external_id",
        "estimated_cost",
        "actual_cost",
        "created_at",
    ]
    list_filter = ["provider", "task", "status", "created_at"]
    search_fields = ["id", "external_id", "endpoint", "error"]
    date_hierarchy = "created_at"
    raw_id_fields = ["run"]
    readonly_fields = [
        "id",
        "run",
        "provider",
        "task",
        "endpoint",
        "status",
        "external_id",
        "request_pretty",
        "context_pretty",
        "response_pretty",
        "logs",
        "error",
        "attempts",
        "polls",
        "next_check_at",
        "sending_at",
        "progress",
        "submitted_at",
        "finished_at",
        "units",
        "estimated_cost",
        "actual_cost",
        "created_by",
        "created_at",
    ]
    exclude = ["request", "context", "response"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Request")
    def request_pretty(self, obj):
        return pretty_json(obj.request)

    @admin.display(description="Context")
    def context_pretty(self, obj):
        return pretty_json(obj.context)

    @admin.display(description="Response")
    def response_pretty(self, obj):
        return pretty_json(obj.response)
