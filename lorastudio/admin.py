from django.contrib import admin, messages

from .models import ApiToken, AuditEvent
from .tokens import issue_api_token, revoke_api_tokens


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "key_prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["name", "user__username", "key_prefix"]
    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    fields = [
        "user",
        "name",
        "expires_at",
        "revoked_at",
        "key_prefix",
        "last_used_at",
        "created_at",
    ]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, key = issue_api_token(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        obj.pk = token.pk
        messages.warning(request, f"Copy this token now, it will not be shown again: {key}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = revoke_api_tokens(queryset)
        self.message_user(request, f"{count} token(s) revoked.")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail: filterable, never editable (failed logins: Axes → Access failures)."""

    list_display = ["at", "actor_name", "action", "summary", "cost", "address"]
    list_filter = ["action", "at", "actor_name"]
    search_fields = ["summary", "actor_name", "target", "address"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.site_header = "LoRA Studio admin"
admin.site.site_title = "LoRA Studio"
admin.site.index_title = "Characters, runs, datasets and training"
