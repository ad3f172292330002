"""Reads about runs and spending, shared by views and the API."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, Sum
from django.utils import timezone

from characters.models import Character

from . import budgets, providers
from .models import GenerationRun, ProviderCall


def runs():
    """Runs with their character, newest first: look one up by id in it."""
    return GenerationRun.objects.select_related("character", "created_by").order_by("-created_at")


def runs_in_full():
    """Runs with their calls and each call's images, as the API shows them."""
    return runs().prefetch_related("calls__images")


def calls():
    return ProviderCall.objects.all()


def calls_by_status(run: GenerationRun) -> dict[str, int]:
    """How many of the run's calls are in each status."""
    return dict(run.calls.values_list("status").annotate(n=Count("id")))


def active_runs(character: Character) -> list[GenerationRun]:
    """The character's unfinished runs, oldest first, with their calls counted and finished."""
    return list(
        GenerationRun.objects.filter(character=character, finished_at__isnull=True)
        .annotate(
            total=Count("calls"),
            finished=Count("calls", filter=Q(calls__status__in=ProviderCall.TERMINAL)),
        )
        .order_by("created_at")
    )


@dataclass(frozen=True)
class Costs:
    spent: Decimal
    estimated_open: Decimal
    approved: int

    @property
    def per_approved(self) -> Decimal | None:
        return (self.spent / self.approved).quantize(Decimal("0.001")) if self.approved else None


def character_costs(character: Character, *, approved: int) -> Costs:
    """What the character's runs have cost so far, and what that makes each approved image."""
    sums = GenerationRun.objects.filter(character=character).aggregate(
        spent=Sum("actual_cost"),
        open=Sum("estimated_cost", filter=Q(finished_at__isnull=True)),
    )
    return Costs(
        spent=sums["spent"] or Decimal("0"),
        estimated_open=sums["open"] or Decimal("0"),
        approved=approved,
    )


# --- Providers ---------------------------------------------------------------------------
def preferred_provider(remembered: str | None) -> str:
    """The provider to preselect: the one the user last launched with, if still usable."""
    usable = [p.key for p in providers.available() if p.usable]
    for key in (remembered, settings.PROVIDER):
        if key in usable:
            return key
    return usable[0] if usable else settings.PROVIDER


# --- Runs as seen where they were launched -----------------------------------------------
RECENT_FAILURE_HOURS = 24


def recent_failures(character: Character, *, dismissed=()):
    """The character's runs that failed or partly failed in the last day, newest first."""
    since = timezone.now() - timedelta(hours=RECENT_FAILURE_HOURS)
    return (
        GenerationRun.objects.filter(
            character=character,
            status__in=[GenerationRun.Status.FAILED, GenerationRun.Status.PARTIAL],
            finished_at__gte=since,
        )
        .exclude(id__in=list(dismissed))
        .annotate(
            total=Count("calls"),
            failed=Count(
                "calls",
                filter=Q(
                    calls__status__in=[ProviderCall.Status.FAILED, ProviderCall.Status.UNKNOWN]
                ),
            ),
        )
        .order_by("-finished_at")[:3]
    )


def first_error(run: GenerationRun) -> str:
    """The first failed call's error, as the provider or the state machine worded it."""
    return (
        run.calls.filter(status__in=[ProviderCall.Status.FAILED, ProviderCall.Status.UNKNOWN])
        .exclude(error="")
        .order_by("created_at")
        .values_list("error", flat=True)
        .first()
        or run.error
    )


@dataclass
class CallGroup:
    """The calls of a run made for one pose or variation, shown as one group of rows."""

    label: str
    calls: list = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(c.image_count for c in self.calls)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.calls if c.status == ProviderCall.Status.FAILED)


def run_call_groups(run: GenerationRun) -> list[CallGroup]:
    """The run's calls grouped by what they were made for, each with its images and source."""
    from characters.models import Image

    calls = list(
        run.calls.annotate(image_count=Count("images"))
        .prefetch_related(
            Prefetch(
                "images",
                queryset=Image.objects.only(
                    "id", "call_id", "file", "thumbnail", "review", "kind"
                ).order_by("call_output"),
            )
        )
        .order_by("created_at")
    )
    source_ids = {c.context.get("image", {}).get("source_image_id") for c in calls} - {None}
    sources = {
        i.id: i
        for i in Image.objects.filter(id__in=source_ids)
        .select_related("pose")
        .only("id", "file", "thumbnail", "pose__label")
    }
    groups: dict[str, CallGroup] = {}
    for call in calls:
        call.source = sources.get(call.context.get("image", {}).get("source_image_id"))
        call.strength = call.context.get("inputs", {}).get("strength")
        label = call.context.get("label") or call.get_task_display()
        groups.setdefault(label, CallGroup(label)).calls.append(call)
    return list(groups.values())


# --- Budgets -----------------------------------------------------------------------------
@dataclass(frozen=True)
class UserSpending:
    username: str
    monthly_limit: Decimal | None
    spent: Decimal
    reserved: Decimal

    @property
    def left(self) -> Decimal | None:
        if self.monthly_limit is None:
            return None
        return max(self.monthly_limit - self.spent - self.reserved, Decimal("0"))


@dataclass(frozen=True)
class BudgetState:
    month: datetime
    room: budgets.Headroom
    users: list[UserSpending]

    @property
    def left(self) -> Decimal | None:
        return self.room.left


def budget_state() -> BudgetState:
    """The installation's budget this month and every login's limit and spending."""
    since = budgets.month_start()
    room = budgets.headroom()
    spending = {
        r["created_by"]: r
        for r in ProviderCall.objects.filter(created_at__gte=since, created_by__isnull=False)
        .values("created_by")
        .annotate(spent=budgets.SPENT, reserved=budgets.RESERVED)
    }
    users = []
    for user in (
        get_user_model()
        .objects.filter(is_active=True)
        .select_related("budget")
        .order_by("username")
    ):
        limit = getattr(getattr(user, "budget", None), "monthly_limit", None)
        row = spending.get(user.pk, {})
        users.append(
            UserSpending(
                user.get_username(),
                limit,
                row.get("spent", Decimal("0")),
                row.get("reserved", Decimal("0")),
            )
        )
    return BudgetState(month=since, room=room, users=users)


def held_runs():
    """Runs waiting for a lead's approval, oldest first."""
    return runs().filter(status=GenerationRun.Status.HELD).order_by("created_at")
