"""The report's database aggregates: closed opportunities and fills grouped
by the columns a figure needs, over a period's days, from the rollups of
closed days (``trading.reports.rollups``) and live for the others. The
rollups are written from these same groups, so a rolled-up day adds up to
exactly what the live computation gives."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse

from exchanges.models import Market
from trading.models import (
    Opportunity,
    OpportunityRollup,
    OpportunityStatus,
    ReportDay,
    Trade,
    TradeRollup,
)
from trading.pnl import QUOTE_ASSETS, base_fee_times_price, fee_value
from trading.reports.periods import Period
from trading.reports.shapes import ZERO, DayRow
from trading.tradingday import trading_day_bounds, trading_tz


def closed_between(period_start: datetime, period_end: datetime) -> QuerySet[Opportunity]:
    return Opportunity.objects.filter(
        closed_at__gte=period_start, closed_at__lt=period_end, realized_pnl__isnull=False
    )


def markets_by_id() -> dict[int, Market]:
    return {m.pk: m for m in Market.objects.all()}


def fee_value_of_group(market: Market, row: dict) -> Decimal | None:
    """A group of fills' fees in the quote asset (``trading.pnl.fee_value``)."""
    return fee_value(fee=row["fee_sum"] or ZERO, fee_times_price=row["fee_price"] or ZERO,
                     fee_asset=row["fee_asset"], base=market.base, quote=market.quote)


def trade_groups(trades: QuerySet[Trade], *extra: str) -> list[dict]:
    """Fills grouped by market, fee asset and ``extra`` columns."""
    return list(
        trades.values("market_id", "fee_asset", *extra)
        .annotate(n=Count("*"), volume=Sum("quote_amount"), quantity=Sum("quantity"),
                  fee_sum=Sum("fee"),
                  fee_price=Sum(base_fee_times_price(markets_by_id().values())))
        .order_by()
    )


def opportunity_groups(opportunities: QuerySet[Opportunity], *columns: str) -> list[dict]:
    """Closed opportunities grouped by status and ``columns``."""
    return list(
        opportunities.values("status", *columns)
        .annotate(n=Count("*"), wins=Count("realized_pnl", filter=Q(realized_pnl__gt=0)),
                  total=Sum("realized_pnl"), best=Max("realized_pnl"),
                  worst=Min("realized_pnl"))
        .order_by()
    )


def rolled_days(period: Period) -> set[date]:
    """The period's days whose rollup is written (in the current trading
    time zone; rollups of another time zone are not used)."""
    return set(ReportDay.objects.filter(day__gte=period.first, day__lte=period.last,
                                        timezone=str(trading_tz()))
               .values_list("day", flat=True))


def days_q(days: Iterable[date], column: str) -> Q | None:
    """``column`` within any of ``days`` (contiguous runs become one range);
    None when there are no days."""
    q = None
    for first, last in day_ranges(days):
        part = Q(**{f"{column}__gte": trading_day_bounds(first)[0],
                    f"{column}__lt": trading_day_bounds(last)[1]})
        q = part if q is None else q | part
    return q


def rolled_q(rolled: set[date]) -> Q:
    """The rolled-up days as a few day ranges (no list of thousands of dates)."""
    q = Q(pk__in=[])
    for first, last in day_ranges(rolled):
        q |= Q(day__gte=first, day__lte=last)
    return q


def period_opportunity_groups(period: Period, rolled: set[date], *columns: str) -> list[dict]:
    """Closed opportunities of the period grouped by status and ``columns``:
    rolled-up days from OpportunityRollup, the other days live."""
    groups: list[dict] = []
    if rolled:
        groups += list(
            OpportunityRollup.objects.filter(rolled_q(rolled))
            .values("status", *columns)
            .annotate(n=Sum("count"), wins=Sum("wins"), total=Sum("realized_pnl"),
                      best=Max("best"), worst=Min("worst"))
            .order_by()
        )
    live = days_q([d for d in period.each_day() if d not in rolled], "closed_at")
    if live is not None:
        groups += opportunity_groups(
            Opportunity.objects.filter(live, realized_pnl__isnull=False), *columns)
    return groups


def period_trade_groups(period: Period, rolled: set[date]) -> list[dict]:
    """Fills of the period grouped by market and fee asset: rolled-up days
    from TradeRollup, the other days live."""
    groups: list[dict] = []
    if rolled:
        groups += list(
            TradeRollup.objects.filter(rolled_q(rolled))
            .values("market_id", "fee_asset")
            .annotate(n=Sum("count"), volume=Sum("volume"), quantity=Sum("quantity"),
                      fee_sum=Sum("fee"), fee_price=Sum("fee_times_price"))
            .order_by()
        )
    live = days_q([d for d in period.each_day() if d not in rolled], "executed_at")
    if live is not None:
        groups += trade_groups(Trade.objects.filter(live))
    return groups


def trading_date(column: str) -> TruncDate:
    return TruncDate(column, tzinfo=trading_tz())


def admin_opportunities_url(start: datetime, end: datetime, **filters: object) -> str:
    query = {"closed_at__gte": start.isoformat(), "closed_at__lt": end.isoformat(), **filters}
    return f"{reverse('admin:trading_opportunity_changelist')}?{urlencode(query)}"


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous runs of days as (first, last) pairs."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def live_days(days: list[date]) -> dict[date, DayRow]:
    """Figures of days without a closed snapshot, from Trades and Opportunities
    (the same definitions as ``trading.services.snapshots.day_figures``)."""
    if not days:
        return {}
    trade_q, opp_q = days_q(days, "executed_at"), days_q(days, "closed_at")
    markets = markets_by_id()
    figures: dict[date, dict] = defaultdict(lambda: defaultdict(lambda: ZERO))
    trades = Trade.objects.filter(trade_q).annotate(trading_day=trading_date("executed_at"))
    for row in trade_groups(trades, "trading_day"):
        market = markets[row["market_id"]]
        if market.quote not in QUOTE_ASSETS:
            continue
        day, suffix = figures[row["trading_day"]], market.quote.lower()
        day["trade_count"] += row["n"]
        day[f"volume_{suffix}"] += row["volume"] or ZERO
        day[f"fees_{suffix}"] += fee_value_of_group(market, row) or ZERO
    opportunities = (Opportunity.objects.filter(opp_q, realized_pnl__isnull=False)
                     .annotate(trading_day=trading_date("closed_at")))
    for row in opportunity_groups(opportunities, "trading_day", "quote_asset"):
        if row["quote_asset"] not in QUOTE_ASSETS:
            continue
        day = figures[row["trading_day"]]
        day[f"realized_pnl_{row['quote_asset'].lower()}"] += row["total"] or ZERO
        if row["status"] != OpportunityStatus.FAILED:
            day["round_trips"] += row["n"]
    wanted = set(days)
    return {
        day: DayRow(day=day, source="live", **{k: v for k, v in values.items()})
        for day, values in figures.items() if day in wanted
    }


