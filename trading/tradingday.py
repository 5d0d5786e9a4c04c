"""The trading-day calendar: the day a moment falls in, in TRADING_DAY_TZ
(Asia/Tehran by default), and that day's bounds. Daily limits, snapshots,
rollups and every report day use it; nothing else decides where a day ends.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def trading_tz() -> ZoneInfo:
    return ZoneInfo(settings.TRADING_DAY_TZ)


def trading_day(at: datetime | None = None) -> date:
    """The trading day (a date in TRADING_DAY_TZ) that ``at`` falls in."""
    return (at or timezone.now()).astimezone(trading_tz()).date()


def trading_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a trading day, as aware datetimes."""
    tz = trading_tz()
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end
