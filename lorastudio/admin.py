from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiToken
from .tokens import issue_api_token


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
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.")


admin.site.site_header = "LoRA Studio admin"
admin.site.site_title = "LoRA Studio"
admin.site.index_title = "Characters, runs, datasets and training"
