"""Budgets: a monthly limit for the installation and per user, and a per-run cap.

Money is reserved at launch and settled by the calls themselves: a call's estimated cost
counts as *reserved* until it ends, then its actual cost counts as *spent* (a failed or
canceled call costs nothing, generation.calls). So the month's committed money is read from
the ProviderCall rows, and there is no second ledger to keep in step.

Every launch (runs, caption runs, reference sets, trainings, re-sends) calls `reserve()` in
its own transaction before it saves its calls. `reserve()` locks the one Budget row
(SELECT ... FOR UPDATE): a second launch waits there until the first has committed its calls,
then counts them, so launches at the same moment can never pass a limit together.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from lorastudio import audit
from lorastudio.errors import Refusal
from lorastudio.models import AuditEvent

from .models import Budget, ProviderCall, UserBudget

ZERO = Decimal("0")
_ZERO = Value(ZERO, output_field=DecimalField())
# A finished call's actual cost is spent; an unfinished call's estimate is reserved.
SPENT = Coalesce(Sum("actual_cost", filter=Q(actual_cost__isnull=False)), _ZERO)
RESERVED = Coalesce(Sum("estimated_cost", filter=Q(actual_cost__isnull=True)), _ZERO)


class BudgetExceeded(Refusal):
    """A launch would pass a limit; the message gives the run's cost and what is left."""

    status_code = 402


def month_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def money(value: Decimal | None) -> str:
    return f"${(value or ZERO):,.2f}"


@dataclass(frozen=True)
class Committed:
    spent: Decimal
    reserved: Decimal

    @property
    def total(self) -> Decimal:
        return self.spent + self.reserved


@dataclass(frozen=True)
class Headroom:
    """What is left this month for a user: the smaller of theirs and the installation's."""

    monthly_limit: Decimal | None
    user_limit: Decimal | None
    per_run_cap: Decimal | None
    approval_threshold: Decimal | None
    installation: Committed
    user: Committed

    @property
    def left(self) -> Decimal | None:
        lefts = []
        if self.monthly_limit is not None:
            lefts.append(self.monthly_limit - self.installation.total)
        if self.user_limit is not None:
            lefts.append(self.user_limit - self.user.total)
        return max(min(lefts), ZERO) if lefts else None


def committed(*, since: datetime, user=None) -> Committed:
    """Spent (finished calls' actual cost) and reserved (unfinished calls' estimate)."""
    calls = ProviderCall.objects.filter(created_at__gte=since)
    if user is not None:
        calls = calls.filter(created_by=user)
    totals = calls.aggregate(spent=SPENT, reserved=RESERVED)
    return Committed(spent=totals["spent"], reserved=totals["reserved"])


def current_budget() -> Budget:
    budget, _ = Budget.objects.get_or_create(pk=1)
    return budget


def headroom(*, user=None, budget: Budget | None = None) -> Headroom:
    """The month so far, for the confirm pages, dry runs and the budget page."""
    budget = budget or current_budget()
    since = month_start()
    user_limit = None
    if user is not None and getattr(user, "pk", None):
        user_limit = (
            UserBudget.objects.filter(user=user).values_list("monthly_limit", flat=True).first()
        )
    return Headroom(
        monthly_limit=budget.monthly_limit,
        user_limit=user_limit,
        per_run_cap=budget.per_run_cap,
        approval_threshold=budget.approval_threshold,
        installation=committed(since=since),
        user=committed(since=since, user=user) if user_limit is not None else Committed(ZERO, ZERO),
    )


def reserve(*, cost: Decimal, user, what: str) -> Headroom:
    """Check that `cost` fits every limit, holding the budget row's lock until the caller's
    transaction commits the calls that reserve it. Raises BudgetExceeded with the numbers."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reserve() must run inside the launch's transaction")
    budget = Budget.objects.select_for_update().filter(pk=1).first()
    if budget is None:
        Budget.objects.get_or_create(pk=1)
        budget = Budget.objects.select_for_update().get(pk=1)
    user = user if getattr(user, "is_authenticated", False) else None
    room = headroom(user=user, budget=budget)
    if room.per_run_cap is not None and cost > room.per_run_cap:
        raise BudgetExceeded(
            f"{what} costs {money(cost)}; the cap for one run is {money(room.per_run_cap)}. "
            "Make it smaller, or ask a lead to raise the cap.",
            extra={"cost": str(cost), "per_run_cap": str(room.per_run_cap)},
        )
    left = room.left
    if left is not None and cost > left:
        raise BudgetExceeded(
            f"{what} costs {money(cost)}; {money(left)} is left this month. "
            "Make it smaller, or ask a lead to raise the budget.",
            extra={"cost": str(cost), "left": str(left)},
        )
    return room


@contextmanager
def refusals_recorded(*, user, what: str, target: str = ""):
    """Wrap a launch's transaction: a budget refusal rolls the launch back, then is recorded
    in the audit trail outside that transaction, and outside any spend that rolls back with it
    (audit.record_refusal), so the record stays while nothing of the launch does."""
    try:
        yield
    except BudgetExceeded as exc:
        audit.record_refusal(
            AuditEvent.Action.RUN_REFUSED,
            exc.message,
            actor=user,
            target=target,
            cost=Decimal(exc.extra["cost"]),
            detail={"what": what, **exc.extra},
        )
        raise


@contextmanager
def launching(*, user, what: str, target: str = ""):
    """The transaction of a launch, with its budget refusal recorded after the rollback."""
    with refusals_recorded(user=user, what=what, target=target), transaction.atomic():
        yield


def for_dry_run(*, user, cost: Decimal) -> dict:
    """What every dry run adds to its price: what is left this month, and whether the run
    would wait for a lead."""
    room = headroom(user=user)
    return {
        "left_this_month": room.left,
        "needs_approval": needs_approval(cost=cost, user=user, room=room),
    }


def needs_approval(*, cost: Decimal, user, room: Headroom) -> bool:
    """A run above the lead-set threshold waits for a lead, unless a lead launched it."""
    if room.approval_threshold is None or cost <= room.approval_threshold:
        return False
    return not (user is not None and user.has_perm("lorastudio.manage_budgets"))


@transaction.atomic
def set_budget(
    *,
    by,
    monthly_limit: Decimal | None | object = ...,
    per_run_cap: Decimal | None | object = ...,
    approval_threshold: Decimal | None | object = ...,
    users: dict[str, Decimal | None] | None = None,
) -> Budget:
    """Change any of the limits (`...` leaves one as it is, None removes it); recorded."""
    budget = Budget.objects.select_for_update().filter(pk=1).first() or current_budget()
    changes = {}
    for name, value in (
        ("monthly_limit", monthly_limit),
        ("per_run_cap", per_run_cap),
        ("approval_threshold", approval_threshold),
    ):
        if value is ...:
            continue
        if value is not None and value < 0:
            raise Refusal(f"The {name.replace('_', ' ')} cannot be negative.")
        before = getattr(budget, name)
        if before != value:
            changes[name] = [_text(before), _text(value)]
            setattr(budget, name, value)
    budget.save()
    for username, limit in (users or {}).items():
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise Refusal(f"No login named “{username}”.")
        if limit is not None and limit < 0:
            raise Refusal(f"The monthly limit of {username} cannot be negative.")
        row, _ = UserBudget.objects.get_or_create(user=user)
        if row.monthly_limit != limit:
            changes[f"user {username}"] = [_text(row.monthly_limit), _text(limit)]
            row.monthly_limit = limit
            row.save()
    if changes:
        summary = "; ".join(f"{k.replace('_', ' ')}: {a} → {b}" for k, (a, b) in changes.items())
        audit.record(AuditEvent.Action.BUDGET_CHANGED, summary, actor=by, detail=changes)
    return budget


def _text(value) -> str:
    return "no limit" if value is None else money(value)
