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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import (
    Count,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate

from exchanges.models import Exchange, Market
from trading.models import (
    DailyRiskSnapshot,
    Opportunity,
    OpportunityRollup,
    OpportunityStatus,
    ReportDay,
    Trade,
    TradeRollup,
)
from trading.pnl import (
    QUOTE_ASSETS,
    base_fee_times_price,
    fee_value,
    max_drawdown_over_days,
)
from trading.reports.periods import Period
from trading.tradingday import trading_day_bounds, trading_tz

ZERO = Decimal("0")
HUNDRED = Decimal("100")
PROBLEM_STATUSES = (OpportunityStatus.PARTIAL, OpportunityStatus.UNWOUND, OpportunityStatus.FAILED)


# -- data shapes ---------------------------------------------------------------------


@dataclass(frozen=True)
class DayRow:
    """One trading day; ``source`` is ``snapshot`` (closed day) or ``live``."""

    day: date
    source: str
    realized_pnl_irr: Decimal = ZERO
    realized_pnl_usdt: Decimal = ZERO
    fees_irr: Decimal = ZERO
    fees_usdt: Decimal = ZERO
    volume_irr: Decimal = ZERO
    volume_usdt: Decimal = ZERO
    trade_count: int = 0
    round_trips: int = 0

    def pnl(self, quote: str) -> Decimal:
        return getattr(self, f"realized_pnl_{quote.lower()}")

    def fees(self, quote: str) -> Decimal:
        return getattr(self, f"fees_{quote.lower()}")

    def volume(self, quote: str) -> Decimal:
        return getattr(self, f"volume_{quote.lower()}")


@dataclass
class PnlStats:
    """Round-trip statistics of a group of closed opportunities, in one quote.

    A round trip is a closed opportunity that traded (every status but
    failed); failed ones count in ``closed`` and ``realized_pnl`` only.
    """

    quote: str
    closed: int = 0
    round_trips: int = 0
    wins: int = 0
    realized_pnl: Decimal = ZERO
    round_trip_pnl: Decimal = ZERO
    best: Decimal | None = None
    worst: Decimal | None = None
    problems: int = 0
    problems_pnl: Decimal = ZERO

    @property
    def win_rate(self) -> Decimal | None:
        """Percent of round trips with a positive realized P&L."""
        if not self.round_trips:
            return None
        return (Decimal(self.wins) * HUNDRED / self.round_trips).quantize(Decimal("0.01"))

    @property
    def average(self) -> Decimal | None:
        if not self.round_trips:
            return None
        return self.round_trip_pnl / self.round_trips

    def add(self, row: dict) -> None:
        """Fold one grouped row (one status) into the statistics."""
        self.closed += row["n"]
        self.realized_pnl += row["total"] or ZERO
        if row["status"] in PROBLEM_STATUSES:
            self.problems += row["n"]
            self.problems_pnl += row["total"] or ZERO
        if row["status"] == OpportunityStatus.FAILED:
            return
        self.round_trips += row["n"]
        self.wins += row["wins"]
        self.round_trip_pnl += row["total"] or ZERO
        self.best = row["best"] if self.best is None else max(self.best, row["best"])
        self.worst = row["worst"] if self.worst is None else min(self.worst, row["worst"])


@dataclass
class TradeStats:
    """Fills of a group: volume, count and fees valued in the quote asset."""

    quote: str
    trade_count: int = 0
    volume: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass(frozen=True)
class QuoteFigures:
    """The headline figures of one quote asset over a period."""

    quote: str
    realized_pnl: Decimal
    fees: Decimal
    volume: Decimal
    trade_count: int
    stats: PnlStats
    median: Decimal | None
    max_drawdown_over_days: Decimal


@dataclass(frozen=True)
class FeeRow:
    """Fees paid in one asset on one quote's markets."""

    asset: str
    quote: str
    amount: Decimal
    value: Decimal  # in the quote asset


@dataclass(frozen=True)
class ProblemRow:
    status: str
    quote: str
    count: int
    realized_pnl: Decimal
    admin_url: str


@dataclass
class MarketRow:
    market_id: int
    market: str
    quote: str
    stats: PnlStats
    trades: TradeStats
    admin_url: str = ""


@dataclass
class PairRow:
    buy_exchange: str
    sell_exchange: str
    quote: str
    stats: PnlStats
    admin_url: str = ""


@dataclass(frozen=True)
class Conversion:
    """A USDT-IRR rate recorded by this system's own fills."""

    rate: Decimal
    fills: int
    source: str


@dataclass
class Overview:
    period: Period
    quotes: list[QuoteFigures]
    fees_by_asset: list[FeeRow]
    problems: list[ProblemRow]
    days: list[DayRow]
    markets: list[MarketRow]
    trade_count: int
    conversion: Conversion | None = None
    combined_pnl_irr: Decimal | None = None
    notes: list[str] = field(default_factory=list)


# -- database helpers ----------------------------------------------------------------


def _closed(period_start: datetime, period_end: datetime) -> QuerySet[Opportunity]:
    return Opportunity.objects.filter(
        closed_at__gte=period_start, closed_at__lt=period_end, realized_pnl__isnull=False
    )


def _markets() -> dict[int, Market]:
    return {m.pk: m for m in Market.objects.all()}


def _fee_value(market: Market, row: dict) -> Decimal | None:
    """A group of fills' fees in the quote asset (``trading.pnl.fee_value``)."""
    return fee_value(fee=row["fee_sum"] or ZERO, fee_times_price=row["fee_price"] or ZERO,
                     fee_asset=row["fee_asset"], base=market.base, quote=market.quote)


def _trade_groups(trades: QuerySet[Trade], *extra: str) -> list[dict]:
    """Fills grouped by market, fee asset and ``extra`` columns."""
    return list(
        trades.values("market_id", "fee_asset", *extra)
        .annotate(n=Count("*"), volume=Sum("quote_amount"), quantity=Sum("quantity"),
                  fee_sum=Sum("fee"),
                  fee_price=Sum(base_fee_times_price(_markets().values())))
        .order_by()
    )


def _opportunity_groups(opportunities: QuerySet[Opportunity], *columns: str) -> list[dict]:
    """Closed opportunities grouped by status and ``columns``."""
    return list(
        opportunities.values("status", *columns)
        .annotate(n=Count("*"), wins=Count("realized_pnl", filter=Q(realized_pnl__gt=0)),
                  total=Sum("realized_pnl"), best=Max("realized_pnl"),
                  worst=Min("realized_pnl"))
        .order_by()
    )


def _rolled_days(period: Period) -> set[date]:
    """The period's days whose rollup is written (in the current trading
    time zone; rollups of another time zone are not used)."""
    return set(ReportDay.objects.filter(day__gte=period.first, day__lte=period.last,
                                        timezone=str(trading_tz()))
               .values_list("day", flat=True))


def _days_q(days: Iterable[date], column: str) -> Q | None:
    """``column`` within any of ``days`` (contiguous runs become one range);
    None when there are no days."""
    q = None
    for first, last in _day_ranges(days):
        part = Q(**{f"{column}__gte": trading_day_bounds(first)[0],
                    f"{column}__lt": trading_day_bounds(last)[1]})
        q = part if q is None else q | part
    return q


def _rolled_q(rolled: set[date]) -> Q:
    """The rolled-up days as a few day ranges (no list of thousands of dates)."""
    q = Q(pk__in=[])
    for first, last in _day_ranges(rolled):
        q |= Q(day__gte=first, day__lte=last)
    return q


def _period_opportunity_groups(period: Period, rolled: set[date], *columns: str) -> list[dict]:
    """Closed opportunities of the period grouped by status and ``columns``:
    rolled-up days from OpportunityRollup, the other days live."""
    groups: list[dict] = []
    if rolled:
        groups += list(
            OpportunityRollup.objects.filter(_rolled_q(rolled))
            .values("status", *columns)
            .annotate(n=Sum("count"), wins=Sum("wins"), total=Sum("realized_pnl"),
                      best=Max("best"), worst=Min("worst"))
            .order_by()
        )
    live = _days_q([d for d in period.each_day() if d not in rolled], "closed_at")
    if live is not None:
        groups += _opportunity_groups(
            Opportunity.objects.filter(live, realized_pnl__isnull=False), *columns)
    return groups


def _period_trade_groups(period: Period, rolled: set[date]) -> list[dict]:
    """Fills of the period grouped by market and fee asset: rolled-up days
    from TradeRollup, the other days live."""
    groups: list[dict] = []
    if rolled:
        groups += list(
            TradeRollup.objects.filter(_rolled_q(rolled))
            .values("market_id", "fee_asset")
            .annotate(n=Sum("count"), volume=Sum("volume"), quantity=Sum("quantity"),
                      fee_sum=Sum("fee"), fee_price=Sum("fee_times_price"))
            .order_by()
        )
    live = _days_q([d for d in period.each_day() if d not in rolled], "executed_at")
    if live is not None:
        groups += _trade_groups(Trade.objects.filter(live))
    return groups


def _trading_date(column: str) -> TruncDate:
    return TruncDate(column, tzinfo=trading_tz())


def _admin_opportunities(start: datetime, end: datetime, **filters: object) -> str:
    from urllib.parse import urlencode

    from django.urls import reverse

    query = {"closed_at__gte": start.isoformat(), "closed_at__lt": end.isoformat(), **filters}
    return f"{reverse('admin:trading_opportunity_changelist')}?{urlencode(query)}"


# -- by day ----------------------------------------------------------------------------


def _day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous runs of days as (first, last) pairs."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _live_days(days: list[date]) -> dict[date, DayRow]:
    """Figures of days without a closed snapshot, from Trades and Opportunities
    (the same definitions as ``trading.services.snapshots.day_figures``)."""
    if not days:
        return {}
    trade_q, opp_q = _days_q(days, "executed_at"), _days_q(days, "closed_at")
    markets = _markets()
    figures: dict[date, dict] = defaultdict(lambda: defaultdict(lambda: ZERO))
    trades = Trade.objects.filter(trade_q).annotate(trading_day=_trading_date("executed_at"))
    for row in _trade_groups(trades, "trading_day"):
        market = markets[row["market_id"]]
        if market.quote not in QUOTE_ASSETS:
            continue
        day, suffix = figures[row["trading_day"]], market.quote.lower()
        day["trade_count"] += row["n"]
        day[f"volume_{suffix}"] += row["volume"] or ZERO
        day[f"fees_{suffix}"] += _fee_value(market, row) or ZERO
    opportunities = (Opportunity.objects.filter(opp_q, realized_pnl__isnull=False)
                     .annotate(trading_day=_trading_date("closed_at")))
    for row in _opportunity_groups(opportunities, "trading_day", "quote_asset"):
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
    live = _live_days(missing)
    return [closed.get(day) or live.get(day) or DayRow(day=day, source="live")
            for day in period.each_day()]


# -- opportunity statistics ------------------------------------------------------------


def median_pnl(period: Period, counts: dict[str, int] | None = None) -> dict[str, Decimal]:
    """Exact median realized P&L per round trip, per quote asset: the middle
    one or two round trips read in P&L order (OFFSET/LIMIT, an index-only
    walk of ``opportunity_pnl_order`` on PostgreSQL, no sort). ``counts`` are
    the period's round trips per quote when the caller has them already."""
    round_trips = _closed(period.start, period.end).exclude(status=OpportunityStatus.FAILED)
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
        value = _fee_value(market, row)
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
            admin_url=_admin_opportunities(period.start, period.end,
                                           market__id__exact=market_id),
        ))
    return sorted(rows, key=lambda r: (r.quote, -r.stats.realized_pnl, r.market))


def pnl_by_market(period: Period) -> list[MarketRow]:
    """Round trips, P&L, volume and fees per market, best P&L first per quote."""
    markets, rolled = _markets(), _rolled_days(period)
    groups = _period_opportunity_groups(period, rolled, "quote_asset", "market_id")
    trade_stats, _ = _trade_stats_by_market(_period_trade_groups(period, rolled), markets)
    return _market_rows(period, groups, trade_stats, markets)


def pnl_by_pair(period: Period) -> list[PairRow]:
    """Round trips and P&L per (buy exchange → sell exchange, quote asset)."""
    names = dict(Exchange.objects.values_list("id", "name"))
    groups = _period_opportunity_groups(period, _rolled_days(period), "quote_asset",
                                        "buy_exchange_id", "sell_exchange_id")
    stats = _stats_by(groups, lambda r: (r["buy_exchange_id"], r["sell_exchange_id"],
                                         r["quote_asset"]))
    rows = [
        PairRow(buy_exchange=names[buy], sell_exchange=names[sell], quote=quote, stats=s,
                admin_url=_admin_opportunities(period.start, period.end,
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
        trade_groups = _period_trade_groups(period, _rolled_days(period))
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
    markets, rolled = _markets(), _rolled_days(period)
    days = pnl_by_day(period)
    groups = _period_opportunity_groups(period, rolled, "quote_asset", "market_id")
    by_quote = _stats_by(groups, lambda r: r["quote_asset"])
    medians = median_pnl(period, {q: s.round_trips for q, s in by_quote.items()})
    trade_groups = _period_trade_groups(period, rolled)
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
                   admin_url=_admin_opportunities(period.start, period.end,
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
