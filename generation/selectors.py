"""Reads about runs and spending, shared by views and the API."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum

from characters.models import Character

from .models import GenerationRun


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
