from django.contrib import admin

from lorastudio.admin_display import pretty_json

from . import budgets
from .models import Budget, GenerationRun, ProviderCall, UserBudget


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


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Changes go through the budgets service, so the audit trail records them."""

    list_display = ["__str__", "monthly_limit", "per_run_cap", "approval_threshold", "updated_at"]
    fields = ["monthly_limit", "per_run_cap", "approval_threshold"]

    def has_add_permission(self, request):
        return not Budget.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        budgets.set_budget(by=request.user, **{f: form.cleaned_data[f] for f in self.fields})
        obj.pk = 1


@admin.register(UserBudget)
class UserBudgetAdmin(admin.ModelAdmin):
    list_display = ["user", "monthly_limit", "updated_at"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        budgets.set_budget(by=request.user, users={obj.user.get_username(): obj.monthly_limit})
        obj.pk = UserBudget.objects.get(user=obj.user).pk
