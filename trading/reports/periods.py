"""Report periods: whole trading days in TRADING_DAY_TZ, stored times in UTC."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from trading.tradingday import trading_day, trading_day_bounds

PRESETS: dict[str, str] = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "year": "Last 365 days",
}
DEFAULT_PRESET = "30d"
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """An inclusive range of trading days, ``first`` to ``last``."""

    first: date
    last: date
    key: str = "custom"

    @property
    def label(self) -> str:
        name = PRESETS.get(self.key, "Custom range")
        return f"{name}: {self.first.isoformat()} – {self.last.isoformat()}"

    @property
    def start(self) -> datetime:
        """The first instant of the period (aware)."""
        return trading_day_bounds(self.first)[0]

    @property
    def end(self) -> datetime:
        """The instant after the period (aware, exclusive)."""
        return trading_day_bounds(self.last)[1]

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> Iterator[date]:
        for offset in range(self.days):
            yield self.first + timedelta(days=offset)

    def query(self) -> dict[str, str]:
        """The request parameters that select this period again."""
        if self.key in PRESETS:
            return {"period": self.key}
        return {"period": "custom", "from": self.first.isoformat(), "to": self.last.isoformat()}


class PeriodError(ValueError):
    """The request asks for a period that cannot be read."""


def period_preset(key: str, *, today: date) -> Period:
    if key == "today":
        return Period(today, today, key)
    if key == "7d":
        return Period(today - timedelta(days=6), today, key)
    if key == "30d":
        return Period(today - timedelta(days=29), today, key)
    if key == "month":
        return Period(today.replace(day=1), today, key)
    if key == "year":
        return Period(today - timedelta(days=364), today, key)
    raise PeriodError(f"unknown period {key!r}")


def period_from_params(params: Mapping[str, str], *, at: datetime | None = None) -> Period:
    """The period a request asks for: ``?period=7d`` or
    ``?period=custom&from=YYYY-MM-DD&to=YYYY-MM-DD``; default the last 30 days."""
    today = trading_day(at or timezone.now())
    key = params.get("period") or DEFAULT_PRESET
    if key != "custom":
        return period_preset(key, today=today)
    try:
        first = date.fromisoformat(params.get("from", ""))
        last = date.fromisoformat(params.get("to", "") or today.isoformat())
    except ValueError as exc:
        raise PeriodError("dates must be YYYY-MM-DD") from exc
    if last < first:
        raise PeriodError("the range ends before it starts")
    if (last - first).days >= MAX_DAYS:
        raise PeriodError(f"at most {MAX_DAYS} days")
    return Period(first, last, "custom")
