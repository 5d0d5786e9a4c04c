"""Report figures, read as database aggregates.

Sources: closed trading days come from their DailyRiskSnapshot (P&L, fees,
volume by day) and their report rollup (``trading.reports.rollups``: round
trips, wins, best, worst by market, exchange pair and status; fills, volume
and fees by market and fee asset); days without them (today, a day the beat
never closed, a day closed before rollups existed) are grouped live from
Trades and Opportunities. Python only folds the few grouped rows. The median
is exact: the middle round trip(s) read in P&L order from an index
(``opportunity_pnl_order``), their count taken from the same groups. Rial
(IRR) and USDT results stay apart; a combined figure exists only through an
explicit, recorded USDT-IRR rate (``usdt_irr_rate``).

Money is Decimal throughout; nothing passes through ``float``.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count

from exchanges.models import Exchange, Market
from trading.models import DailyRiskSnapshot, OpportunityStatus
from trading.pnl import QUOTE_ASSETS, max_drawdown_over_days
from trading.reports.aggregates import (
    admin_opportunities_url,
    closed_between,
    fee_value_of_group,
    live_days,
    markets_by_id,
    period_opportunity_groups,
    period_trade_groups,
    rolled_days,
)
from trading.reports.periods import Period
from trading.reports.shapes import (
    PROBLEM_STATUSES,
    ZERO,
    Conversion,
    DayRow,
    FeeRow,
    MarketRow,
    Overview,
    PairRow,
    PnlStats,
    ProblemRow,
    QuoteFigures,
    TradeStats,
)

SNAPSHOT_FIELDS = ("day", "realized_pnl_irr", "realized_pnl_usdt", "fees_irr", "fees_usdt",
                   "volume_irr", "volume_usdt", "trade_count", "round_trips")


def pnl_by_day(period: Period) -> list[DayRow]:
    """Every day of the period, oldest first: closed days from their snapshot,
    the others from Trades and Opportunities."""
    closed = {
        row["day"]: DayRow(source="snapshot", **row)
        for row in DailyRiskSnapshot.objects.filter(
            day__gte=period.first, day__lte=period.last, closed=True
        ).values(*SNAPSHOT_FIELDS)
    }
    missing = [day for day in period.each_day() if day not in closed]
    live = live_days(missing)
    return [closed.get(day) or live.get(day) or DayRow(day=day, source="live")
            for day in period.each_day()]


# -- opportunity statistics ------------------------------------------------------------


def median_pnl(period: Period, counts: dict[str, int] | None = None) -> dict[str, Decimal]:
    """Exact median realized P&L per round trip, per quote asset: the middle
    one or two round trips read in P&L order (OFFSET/LIMIT, an index-only
    walk of ``opportunity_pnl_order`` on PostgreSQL, no sort). ``counts`` are
    the period's round trips per quote when the caller has them already."""
    round_trips = closed_between(period.start, period.end).exclude(status=OpportunityStatus.FAILED)
    given = counts is not None
    if counts is None:
        counts = dict(round_trips.values("quote_asset").annotate(n=Count("*"))
                      .order_by().values_list("quote_asset", "n"))
    result: dict[str, Decimal] = {}
    for quote, n in counts.items():
        if not n:
            continue
        ordered = (round_trips.filter(quote_asset=quote).order_by("realized_pnl")
                   .values_list("realized_pnl", flat=True))
        middle = list(ordered[(n - 1) // 2:n // 2 + 1])
        if len(middle) != n // 2 + 1 - (n - 1) // 2 and given:  # stale: count again
            return median_pnl(period)
        result[quote] = (middle[0] + middle[-1]) / 2
    return result


def _stats_by(groups: list[dict], key) -> dict:
    stats: dict = {}
    for row in groups:
        k = key(row)
        if k is None:
            continue
        if k not in stats:
            stats[k] = PnlStats(quote=row["quote_asset"])
        stats[k].add(row)
    return stats


def _trade_stats_by_market(groups: list[dict], markets: dict[int, Market],
                           ) -> tuple[dict[int, TradeStats], list[FeeRow]]:
    by_market: dict[int, TradeStats] = {}
    fees: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for row in groups:
        market = markets[row["market_id"]]
        stats = by_market.setdefault(market.pk, TradeStats(quote=market.quote))
        stats.trade_count += row["n"]
        stats.volume += row["volume"] or ZERO
        value = fee_value_of_group(market, row)
        stats.fees += value or ZERO
        if row["fee_sum"]:
            asset = row["fee_asset"].upper() or market.quote
            fees[(asset, market.quote)][0] += row["fee_sum"]
            fees[(asset, market.quote)][1] += value or ZERO
    fee_rows = [FeeRow(asset=a, quote=q, amount=amount, value=value)
                for (a, q), (amount, value) in sorted(fees.items())]
    return by_market, fee_rows


def _market_rows(period: Period, groups: list[dict], trade_stats: dict[int, TradeStats],
                 markets: dict[int, Market]) -> list[MarketRow]:
    stats = _stats_by(groups, lambda r: r["market_id"])
    rows = []
    for market_id in set(stats) | set(trade_stats):
        market = markets[market_id]
        rows.append(MarketRow(
            market_id=market_id, market=market.code, quote=market.quote,
            stats=stats.get(market_id) or PnlStats(quote=market.quote),
            trades=trade_stats.get(market_id) or TradeStats(quote=market.quote),
            admin_url=admin_opportunities_url(period.start, period.end,
                                           market__id__exact=market_id),
        ))
    return sorted(rows, key=lambda r: (r.quote, -r.stats.realized_pnl, r.market))


def pnl_by_market(period: Period) -> list[MarketRow]:
    """Round trips, P&L, volume and fees per market, best P&L first per quote."""
    markets, rolled = markets_by_id(), rolled_days(period)
    groups = period_opportunity_groups(period, rolled, "quote_asset", "market_id")
    trade_stats, _ = _trade_stats_by_market(period_trade_groups(period, rolled), markets)
    return _market_rows(period, groups, trade_stats, markets)


def pnl_by_pair(period: Period) -> list[PairRow]:
    """Round trips and P&L per (buy exchange → sell exchange, quote asset)."""
    names = dict(Exchange.objects.values_list("id", "name"))
    groups = period_opportunity_groups(period, rolled_days(period), "quote_asset",
                                        "buy_exchange_id", "sell_exchange_id")
    stats = _stats_by(groups, lambda r: (r["buy_exchange_id"], r["sell_exchange_id"],
                                         r["quote_asset"]))
    rows = [
        PairRow(buy_exchange=names[buy], sell_exchange=names[sell], quote=quote, stats=s,
                admin_url=admin_opportunities_url(period.start, period.end,
                                               buy_exchange__id__exact=buy,
                                               sell_exchange__id__exact=sell,
                                               quote_asset__exact=quote))
        for (buy, sell, quote), s in stats.items()
    ]
    return sorted(rows, key=lambda r: (r.quote, -r.stats.realized_pnl, r.buy_exchange,
                                       r.sell_exchange))


def usdt_irr_rate(period: Period, trade_groups: list[dict] | None = None) -> Conversion | None:
    """The volume-weighted price of this system's USDT-IRR fills in the
    period: the rate a combined figure is converted at, or None."""
    market = Market.objects.filter(base="USDT", quote="IRR").first()
    if market is None:
        return None
    if trade_groups is None:
        trade_groups = period_trade_groups(period, rolled_days(period))
    mine = [row for row in trade_groups if row["market_id"] == market.pk]
    value = sum((row["volume"] or ZERO for row in mine), ZERO)
    quantity = sum((row["quantity"] or ZERO for row in mine), ZERO)
    n = sum(row["n"] for row in mine)
    if not quantity:
        return None
    rate = (value / quantity).quantize(Decimal("1"))
    return Conversion(rate=rate, fills=n,
                      source=f"volume-weighted price of {n} USDT-IRR fills in the period")


def overview(period: Period, *, convert: bool = False) -> Overview:
    """Everything the overview page shows, per quote asset."""
    markets, rolled = markets_by_id(), rolled_days(period)
    days = pnl_by_day(period)
    groups = period_opportunity_groups(period, rolled, "quote_asset", "market_id")
    by_quote = _stats_by(groups, lambda r: r["quote_asset"])
    medians = median_pnl(period, {q: s.round_trips for q, s in by_quote.items()})
    trade_groups = period_trade_groups(period, rolled)
    trade_stats, fee_rows = _trade_stats_by_market(trade_groups, markets)
    quotes = []
    for quote in QUOTE_ASSETS:
        quotes.append(QuoteFigures(
            quote=quote,
            realized_pnl=sum((d.pnl(quote) for d in days), ZERO),
            fees=sum((d.fees(quote) for d in days), ZERO),
            volume=sum((d.volume(quote) for d in days), ZERO),
            trade_count=sum(t.trade_count for t in trade_stats.values() if t.quote == quote),
            stats=by_quote.get(quote) or PnlStats(quote=quote),
            median=medians.get(quote),
            max_drawdown_over_days=max_drawdown_over_days(d.pnl(quote) for d in days),
        ))
    merged: dict[tuple[str, str], list] = {}
    for row in groups:
        if row["status"] in PROBLEM_STATUSES:
            entry = merged.setdefault((row["status"], row["quote_asset"]), [0, ZERO])
            entry[0] += row["n"]
            entry[1] += row["total"] or ZERO
    problem_rows = [
        ProblemRow(status=status, quote=quote, count=n, realized_pnl=total,
                   admin_url=admin_opportunities_url(period.start, period.end,
                                                  status__exact=status,
                                                  quote_asset__exact=quote))
        for (status, quote), (n, total) in sorted(merged.items())
    ]
    result = Overview(
        period=period, quotes=quotes, fees_by_asset=fee_rows, problems=problem_rows, days=days,
        markets=_market_rows(period, groups, trade_stats, markets),
        trade_count=sum(d.trade_count for d in days),
    )
    if convert:
        result.conversion = usdt_irr_rate(period, trade_groups)
        if result.conversion is not None:
            irr, usdt = quotes
            result.combined_pnl_irr = (irr.realized_pnl
                                       + usdt.realized_pnl * result.conversion.rate)
    return result
