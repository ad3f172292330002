"""Per-user quotas on the requests that make workers busy: uploads and exports.

A fixed window per user and kind of work, counted in the cache (Redis): `take()` counts what a
request asks for and refuses it with 429 and the seconds until the window turns (the API
sends them as `Retry-After`). A refused request counts for nothing. Work a service does for
no user (the command line) has no quota.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from .errors import Refusal


class QuotaExceeded(Refusal):
    """A user asked for more of some work than the quota allows in the current window."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Quota:
    kind: str  # "upload", "export"
    limit: int
    window: int  # seconds
    what: str  # how the message names one unit: "photo", "export"


def quota(kind: str) -> Quota:
    limit, window = settings.QUOTAS[kind]
    return Quota(kind=kind, limit=limit, window=window, what={"upload": "photo"}.get(kind, kind))


def take(*, user, kind: str, amount: int = 1) -> None:
    """Count `amount` units of `kind` for `user`, or refuse the whole request (429)."""
    if user is None or not getattr(user, "pk", None):
        return
    rule = quota(kind)
    now = time.time()
    window_start = int(now // rule.window)
    key = f"quota:{kind}:{user.pk}:{window_start}"
    cache.add(key, 0, timeout=rule.window + 5)
    used = cache.incr(key, amount)
    if used > rule.limit:
        cache.decr(key, amount)  # a refused request takes nothing
        retry_after = max(1, int((window_start + 1) * rule.window - now) + 1)
        minutes = rule.window // 60
        per = f"{minutes} minutes" if minutes != 1 else "minute"
        raise QuotaExceeded(
            f"You may ask for {rule.limit} {rule.what}s per {per} and have used "
            f"{used - amount}: try again in {retry_after} s.",
            retry_after=retry_after,
        )
