"""Reads about spending: by month, user, character and provider, reserved versus actual,
cost per approved image and per trained version, for the usage page, its chart and the API.

Every paid request is a ProviderCall, so its rows are the whole story: a call's month is the
month it was made; its actual cost once it ended, its estimate (reserved) until then.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, F
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from characters.models import Image

from .budgets import RESERVED, SPENT, ZERO, month_start
from .models import ProviderCall, Task


@dataclass(frozen=True)
class Row:
    key: str
    spent: Decimal
    reserved: Decimal
    calls: int


@dataclass(frozen=True)
class Month:
    start: datetime
    spent: Decimal
    reserved: Decimal

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"


@dataclass(frozen=True)
class Usage:
    month: datetime
    spent: Decimal
    reserved: Decimal
    by_user: list[Row]
    by_character: list[Row]
    by_provider: list[Row]
    approved_images: int
    image_spent: Decimal
    trained_versions: int
    training_spent: Decimal
    months: list[Month]

    @property
    def per_approved_image(self) -> Decimal | None:
        if not self.approved_images:
            return None
        return (self.image_spent / self.approved_images).quantize(Decimal("0.001"))

    @property
    def per_trained_version(self) -> Decimal | None:
        if not self.trained_versions:
            return None
        return (self.training_spent / self.trained_versions).quantize(Decimal("0.01"))


class BadMonth(ValueError):
    pass


def parse_month(text: str | None) -> datetime:
    """`YYYY-MM` (this month when empty) as the month's first moment, local time."""
    if not text:
        return month_start()
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise BadMonth(f"Give the month as YYYY-MM, e.g. {timezone.now():%Y-%m}.") from None
    return timezone.make_aware(parsed)


def _next_month(start: datetime) -> datetime:
    return timezone.make_aware(datetime(start.year + start.month // 12, start.month % 12 + 1, 1))


def _rows(calls, key) -> list[Row]:
    rows = (
        calls.annotate(key=key)
        .values("key")
        .annotate(spent=SPENT, reserved=RESERVED, calls=Count("id"))
        .order_by("-spent", "key")
    )
    return [Row(r["key"] or "—", r["spent"], r["reserved"], r["calls"]) for r in rows]


def usage_for(month: datetime, *, history: int = 6) -> Usage:
    """The month's spending in every cut, and the `history` months up to it for the chart."""
    end = _next_month(month)
    calls = ProviderCall.objects.filter(created_at__gte=month, created_at__lt=end)
    totals = calls.aggregate(spent=SPENT, reserved=RESERVED)
    character = Coalesce(F("run__character__name"), F("training_job__character__name"))
    images = calls.exclude(task__in=[Task.TRAIN_LORA, Task.CAPTION]).aggregate(spent=SPENT)
    training = calls.filter(task=Task.TRAIN_LORA)
    approved = Image.objects.filter(
        call__created_at__gte=month, call__created_at__lt=end, review=Image.Review.APPROVED
    ).count()
    first = month
    for _ in range(history - 1):
        first = timezone.make_aware(
            datetime(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
        )
    by_month = {
        timezone.localtime(r["m"]).strftime("%Y-%m"): r
        for r in ProviderCall.objects.filter(created_at__gte=first, created_at__lt=end)
        .annotate(m=TruncMonth("created_at"))
        .values("m")
        .annotate(spent=SPENT, reserved=RESERVED)
    }
    months, start = [], first
    while start < end:
        row = by_month.get(f"{start:%Y-%m}", {})
        months.append(Month(start, row.get("spent", ZERO), row.get("reserved", ZERO)))
        start = _next_month(start)
    return Usage(
        month=month,
        spent=totals["spent"],
        reserved=totals["reserved"],
        by_user=_rows(calls, F("created_by__username")),
        by_character=_rows(calls, character),
        by_provider=_rows(calls, F("provider")),
        approved_images=approved,
        image_spent=images["spent"],
        trained_versions=training.filter(status=ProviderCall.Status.DONE).count(),
        training_spent=training.aggregate(spent=SPENT)["spent"],
        months=months,
    )


@dataclass(frozen=True)
class Bar:
    label: str
    x: float
    spent_y: float
    spent_h: float
    reserved_y: float
    reserved_h: float
    label_y: float
    spent: Decimal
    reserved: Decimal


def chart_bars(months: list[Month], *, width: int = 600, height: int = 180) -> list[Bar]:
    """Stacked bars (actual below, reserved above) scaled into a `width` × `height` SVG."""
    top = max((m.spent + m.reserved for m in months), default=ZERO) or Decimal("1")
    slot = width / max(len(months), 1)
    bars = []
    for n, m in enumerate(months):
        spent_h = float(m.spent / top) * (height - 20)
        reserved_h = float(m.reserved / top) * (height - 20)
        bars.append(
            Bar(
                label=m.label,
                x=round(n * slot + slot * 0.2, 1),
                spent_y=round(height - spent_h, 1),
                spent_h=round(spent_h, 1),
                reserved_y=round(height - spent_h - reserved_h, 1),
                reserved_h=round(reserved_h, 1),
                label_y=round(height - spent_h - reserved_h - 4, 1),
                spent=m.spent,
                reserved=m.reserved,
            )
        )
    return bars


def csv_rows(u: Usage):
    """The usage as CSV lines: a header, then month, cut, key, actual, reserved, calls."""
    yield ["month", "by", "key", "spent_usd", "reserved_usd", "calls"]
    month = f"{u.month:%Y-%m}"
    yield [month, "installation", "all", u.spent, u.reserved, ""]
    for cut, rows in (
        ("user", u.by_user),
        ("character", u.by_character),
        ("provider", u.by_provider),
    ):
        for row in rows:
            yield [month, cut, row.key, row.spent, row.reserved, row.calls]
