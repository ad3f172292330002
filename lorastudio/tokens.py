"""Issuing and checking API tokens."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from . import audit
from .models import ApiToken, AuditEvent

LAST_USED_RESOLUTION = timedelta(minutes=5)


def issue_api_token(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; the key is returned once and only its hash is stored."""
    key = ApiToken.new_key()
    token = ApiToken(user=user, name=name or "API token", expires_at=expires_at)
    token.set_key(key)
    token.save()
    audit.record(
        AuditEvent.Action.TOKEN_MADE,
        f"made API token “{token.name}” ({token.key_prefix}…) for {user.get_username()}",
        target=f"token:{token.pk}",
    )
    return token, key


def revoke_api_tokens(tokens) -> int:
    """Revoke the tokens of `tokens` (a queryset) still in use; each revocation is recorded."""
    count = 0
    for token in tokens.filter(revoked_at__isnull=True).select_related("user"):
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        audit.record(
            AuditEvent.Action.TOKEN_REVOKED,
            f"revoked API token “{token.name}” ({token.key_prefix}…) of "
            f"{token.user.get_username()}",
            target=f"token:{token.pk}",
        )
        count += 1
    return count


def user_for_api_key(key: str):
    """The active user a bearer key belongs to, or None."""
    if not key.startswith(ApiToken.PREFIX):
        return None
    token = (
        ApiToken.objects.usable()
        .select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def tokens_of(user: AbstractBaseUser):
    """A user's own tokens, newest first (revoked ones included, marked)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def revoke_api_token(*, token: ApiToken) -> ApiToken:
    """Stop a token from working, at once; it stays listed as revoked."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token
