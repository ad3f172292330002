"""Reads about runs and spending, shared by views and the API."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from characters.models import Character

from .models import GenerationRun, ProviderCall


def runs():
    """Runs with their character, newest first: look one up by id in it."""
    return GenerationRun.objects.select_related("character", "created_by").order_by("-created_at")


def runs_in_full():
    """Runs with their calls and each call's images, as the API shows them."""
    return runs().prefetch_related("calls__images")


def calls():
    return ProviderCall.objects.all()


def run_calls(run: GenerationRun):
    """A run's calls in the order they were made, each with its image count."""
    return run.calls.annotate(image_count=Count("images")).order_by("created_at")


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
