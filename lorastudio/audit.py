"""The audit trail: what matters, who did it, when, from which address.

Services call `record(...)` next to the change they make, in its transaction, so an event is
saved exactly when its change is. Why our own table rather than django-auditlog or
django-simple-history: those record row diffs on `save()`, while what a lead asks of the
trail is the domain event with its money ("launched run #12, $4.80"), including changes
made by one `UPDATE` of many rows (a bulk review) that no `save()` signal sees. Failed
logins are django-axes' own records (AccessFailureLog, kept after a good login by
AXES_ENABLE_ACCESS_FAILURE_LOG), shown beside this trail in the admin.

The address comes from the request being served (`AuditAddressMiddleware` puts it in a
context variable); work done by a worker has none.

A refusal is the one event saved *because* its change was not: `record_refusal` keeps it out
of the transaction that rolls the refused work back (see `kept_through_rollback`).
"""

import contextvars
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from axes.helpers import get_client_ip_address
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed

from .models import AuditEvent

Action = AuditEvent.Action
_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("address", default=None)
_actor: contextvars.ContextVar = contextvars.ContextVar("actor", default=None)
# The refusals waiting for the enclosing spend's transaction to end (kept_through_rollback).
_kept: contextvars.ContextVar[list[tuple[str, str, dict]] | None] = contextvars.ContextVar(
    "kept", default=None
)


class AuditAddressMiddleware:
    """Makes the request's address (and user, for changes made without one) known to `record`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address = _address.set(_ip(get_client_ip_address(request)))
        actor = _actor.set(request)
        try:
            return self.get_response(request)
        finally:
            _address.reset(address)
            _actor.reset(actor)


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def _current_user():
    request = _actor.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


def record(
    action: str,
    summary: str,
    *,
    actor=None,
    target: str = "",
    cost: Decimal | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Save one event. `actor` defaults to the user of the request being served."""
    actor = actor if getattr(actor, "is_authenticated", False) else _current_user()
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        address=_address.get(),
        action=action,
        summary=summary[:300],
        target=target,
        cost=cost,
        detail=detail or {},
    )


def record_refusal(action: str, summary: str, **fields) -> None:
    """Save the event of a refused request once the work it refused has rolled back: at once,
    or, inside `kept_through_rollback`, when that block's transaction has ended. Call it after
    the refused work's own transaction (the launch's) has rolled back."""
    kept = _kept.get()
    if kept is None:
        record(action, summary, **fields)
    else:
        kept.append((action, summary, fields))


@contextmanager
def kept_through_rollback() -> Iterator[None]:
    """Wrap a transaction that rolls back everything a refused request wrote (spend_once rolls
    back its idempotency key with the launch): the refusals recorded inside it are saved after
    it, in a transaction of their own, so the trail keeps why nothing happened."""
    if _kept.get() is not None:  # an enclosing block saves them, after its own transaction
        yield
        return
    kept: list[tuple[str, str, dict]] = []
    token = _kept.set(kept)
    try:
        yield
    finally:
        _kept.reset(token)
        if kept:
            with transaction.atomic():
                for action, summary, fields in kept:
                    record(action, summary, **fields)


def _groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """Roles change in the admin (user's groups, a group's permissions) or by `set_role`:
    both end as these m2m changes, the one place that sees every one of them."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    names = sorted(str(o) for o in model.objects.filter(pk__in=pk_set or [])) or ["all"]
    if sender is get_user_model().groups.through:
        if reverse:  # group.user_set.add(users)
            summary = f"group {instance.name}: users {verb}: {', '.join(names)}"
        else:
            summary = f"{instance.get_username()}: groups {verb}: {', '.join(names)}"
    else:
        summary = f"group {instance}: permissions {verb}: {', '.join(names)}"
    record(Action.ROLE_CHANGED, summary, target=str(instance), detail={"names": names})


def connect() -> None:
    m2m_changed.connect(_groups_changed, sender=get_user_model().groups.through)
    m2m_changed.connect(_groups_changed, sender=Group.permissions.through)
