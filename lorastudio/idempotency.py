"""Spend once: a request that spends money starts its work at most once per key.

One mechanism behind two doors:
- the confirm pages carry a one-time token (lorastudio.confirm): submitting it twice, from
  Back, a second tab or a double click, leads to what the first submit started;
- the API takes an `Idempotency-Key` header on every POST that spends (`idempotent` below):
  the same key again returns the first answer and starts nothing; the same key with another
  body is a 422.

`spend_once` inserts the key's row in the same transaction as the work it guards. Two
identical requests racing from two connections meet at the row's unique constraint: the
second waits for the first to commit, then reads what it started (or, if the first failed
and rolled back, goes on as the first). A refused start rolls back with its key: nothing of
it stays but the refusal's audit record, saved after the rollback (audit.record_refusal).
"""

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from . import audit
from .errors import Refusal
from .models import IdempotencyKey
from .tokens import user_for_api_key

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEPT_FOR = timedelta(days=30)  # a key (or a confirm page's token) answers this long


class KeyReused(Refusal):
    """The key already started something else: a key names one request."""

    status_code = 422


@dataclass
class Outcome:
    """What a spending request started: a label and page for people, the answer for the API.
    `value` is the started object itself, for the caller (not stored)."""

    label: str = ""
    url: str = ""
    response: HttpResponse | None = None
    value: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Spent:
    """The result of `spend_once`: the outcome, and whether this request started it."""

    outcome: Outcome
    first: bool


def new_token() -> str:
    return secrets.token_urlsafe(24)


def fingerprint(scope: str, data: Any) -> str:
    """A stable digest of what was asked (`scope` names the action, e.g. its path)."""
    text = json.dumps([scope, data], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def started_by(*, user: AbstractBaseUser, key: str) -> IdempotencyKey | None:
    """The committed record of what `key` started for `user`, or None."""
    if not key or not getattr(user, "is_authenticated", False):
        return None
    return IdempotencyKey.objects.filter(user=user, key=key[:MAX_KEY_LENGTH]).first()


def _outcome(row: IdempotencyKey) -> Outcome:
    response = None
    if row.response_status is not None:
        response = HttpResponse(
            row.response_body, status=row.response_status, content_type=row.response_type
        )
        response["Idempotent-Replayed"] = "true"
    return Outcome(label=row.label, url=row.url, response=response)


class _NothingStarted(Exception):
    """`start` answered without starting anything (an API refusal): roll the key back."""

    def __init__(self, response: HttpResponse):
        self.response = response


def spend_once(
    *,
    user: AbstractBaseUser,
    key: str,
    fingerprint: str,
    start: Callable[[], Outcome],
) -> Spent:
    """Run `start` once per (user, key) and remember its outcome; after that, the outcome
    again without running it. A refusal raised by `start` rolls back everything it wrote with
    the key, so the same key may be used once the problem is fixed; the refusal's own record
    (audit.record_refusal) is saved after that rollback. `KeyReused` when the key started a
    different request."""
    key = key[:MAX_KEY_LENGTH]
    with audit.kept_through_rollback(), transaction.atomic():
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(user=user, key=key, fingerprint=fingerprint)
        except IntegrityError:
            # Another request holds (or held) this key; the insert waited for it to commit.
            row = IdempotencyKey.objects.get(user=user, key=key)
            if row.fingerprint != fingerprint:
                raise KeyReused(
                    f"This key was already used for another request, which started "
                    f"{row.label or 'something else'}: use a new key for a new request.",
                    extra={"started": row.label, "url": row.url},
                ) from None
            return Spent(outcome=_outcome(row), first=False)
        outcome = start()
        row.label, row.url = outcome.label[:200], outcome.url[:300]
        if outcome.response is not None:
            row.response_status = outcome.response.status_code
            row.response_type = outcome.response.get("Content-Type", "")
            row.response_body = outcome.response.content.decode()
        row.save()
    return Spent(outcome=outcome, first=True)


def prune_keys() -> int:
    """Forget keys older than KEPT_FOR: what they started stays, the key no longer answers."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEPT_FOR).delete()
    return deleted


# --- The API door: the Idempotency-Key header ----------------------------------------------
OPENAPI = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
            "description": "Send a unique key (e.g. a UUID) to make this POST safe to retry: the "
            "same key again returns the first answer and starts nothing new; the same key with "
            "a different body is a 422.",
        }
    ]
}


def _api_user(request) -> AbstractBaseUser | None:
    if request.user.is_authenticated:
        return request.user
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return user_for_api_key(key.strip()) if scheme.lower() == "bearer" else None


def idempotent(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an API operation (with `ninja.decorators.decorate_view`) that spends money: with
    an `Idempotency-Key` header, its first 2xx answer is stored and replayed for that key."""

    @wraps(run)
    def wrapped(request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        user = _api_user(request) if key and request.method == "POST" else None
        if user is None:  # no key, or not signed in (the operation answers 401 itself)
            return run(request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            return _json(400, f"{HEADER} is at most {MAX_KEY_LENGTH} characters.")
        asked = fingerprint(f"{request.method} {request.path}", _body(request))

        def start() -> Outcome:
            response = run(request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                raise _NothingStarted(response)
            return Outcome(response=response)

        try:
            spent = spend_once(user=user, key=key, fingerprint=asked, start=start)
        except _NothingStarted as refused:
            return refused.response
        except KeyReused as exc:
            return _json(422, exc.message)
        return spent.outcome.response

    return wrapped


def _body(request) -> Any:
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        return hashlib.sha256(request.body).hexdigest()


def _json(status: int, detail: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": detail}), status=status, content_type="application/json"
    )
