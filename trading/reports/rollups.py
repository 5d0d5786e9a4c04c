"""Report rollups: one trading day's closed opportunities and fills grouped
once, when the day's snapshot closes, so the report pages read a few
thousand grouped rows for a year instead of a million fills.

``report_rollup_write(day=…)`` is called by ``snapshot_refresh`` as it closes
a past day (in the same transaction) and by ``seed_demo``;
``report_rollups_backfill()`` writes the missing ones for every closed day
(a database from before rollups existed). Writing a day again replaces its
rows, so both are idempotent. The groups are the same database aggregates the
live report path uses (``aggregates.opportunity_groups`` and
``aggregates.trade_groups``), so a rolled-up day adds up to exactly what the
live computation gives.
"""

from __future__ import annotations

import logging
from datetime import date

from django.db import transaction

from trading.models import (
    DailyRiskSnapshot,
    Opportunity,
    OpportunityRollup,
    ReportDay,
    Trade,
    TradeRollup,
)
from trading.reports.aggregates import opportunity_groups, trade_groups
from trading.reports.shapes import ZERO
from trading.tradingday import trading_day_bounds, trading_tz

logger = logging.getLogger(__name__)

OPPORTUNITY_KEYS = ("market_id", "buy_exchange_id", "sell_exchange_id", "quote_asset")


def report_rollup_write(*, day: date) -> ReportDay:
    """(Re)write the rollup rows of one trading day from Opportunities and
    Trades; returns the day's ReportDay marker."""
    start, end = trading_day_bounds(day)
    opportunities = Opportunity.objects.filter(closed_at__gte=start, closed_at__lt=end,
                                               realized_pnl__isnull=False)
    trades = Trade.objects.filter(executed_at__gte=start, executed_at__lt=end)
    with transaction.atomic():
        OpportunityRollup.objects.filter(day=day).delete()
        TradeRollup.objects.filter(day=day).delete()
        OpportunityRollup.objects.bulk_create([
            OpportunityRollup(day=day, status=row["status"],
                              **{key: row[key] for key in OPPORTUNITY_KEYS},
                              count=row["n"], wins=row["wins"], realized_pnl=row["total"],
                              best=row["best"], worst=row["worst"])
            for row in opportunity_groups(opportunities, *OPPORTUNITY_KEYS)
        ])
        TradeRollup.objects.bulk_create([
            TradeRollup(day=day, market_id=row["market_id"], fee_asset=row["fee_asset"],
                        count=row["n"], volume=row["volume"] or ZERO,
                        quantity=row["quantity"] or ZERO, fee=row["fee_sum"] or ZERO,
                        fee_times_price=row["fee_price"] or ZERO)
            for row in trade_groups(trades)
        ])
        marker, _ = ReportDay.objects.update_or_create(
            day=day, defaults={"timezone": str(trading_tz())})
    logger.info("report rollup of %s written", day)
    return marker


def report_rollups_backfill() -> int:
    """Write the rollup of every closed day that has none in the current
    trading time zone; returns how many days were written."""
    done = set(ReportDay.objects.filter(timezone=str(trading_tz()))
               .values_list("day", flat=True))
    missing = [day for day in DailyRiskSnapshot.objects.filter(closed=True)
               .order_by("day").values_list("day", flat=True) if day not in done]
    for day in missing:
        report_rollup_write(day=day)
    return len(missing)


def report_rollups_delete() -> None:
    """Remove every rollup (derived data; those days are then read live)."""
    with transaction.atomic():
        OpportunityRollup.objects.all().delete()
        TradeRollup.objects.all().delete()
        ReportDay.objects.all().delete()
