"""Detection: from the latest books to Opportunity rows (DESIGN.md, the flow, step 2).

``opportunities_detect`` gathers its inputs (books and balances from Redis,
listings, limits and in-flight opportunities from the database), hands them
to ``cycle_evaluate`` — pure, no I/O, what the bench times — and writes what
it decided: an Opportunity per plan, ``execute_opportunity`` enqueued after
commit, rejection counters in Redis.

Rules (see ``trading.services.arbitrage`` for the profit formula):

* each enabled market, each ordered pair (buy on A's asks, sell on B's bids)
  of exchanges that are enabled and trading-enabled and list the market;
* books missing, empty or older than ``max_book_age_ms`` are skipped;
* the size maximises profit after both taker fees, then is capped by the
  quote available on the buyer (size × buy limit × (1 + fee) within it), the
  base available on the seller, the maximum order value per leg (size × its
  limit price) and the
  open-exposure room of the base asset, and rounded down to the coarser of
  the two amount steps; profit is recomputed on that size;
* it must reach ``min_profit_pct`` (of the buy cost, fee included) and
  ``min_profit_abs``, and each leg the listing's minimum order value;
* **at most one new opportunity per market per cycle** — the most profitable
  pair. Pairs of one market compete for the same base and quote balances, so
  two plans from one cycle could together spend more than either exchange
  holds; across markets, each plan's use of balances and exposure is deducted
  before the next market is evaluated (markets in code order).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any

import redis
from django.db import IntegrityError, transaction
from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.markets import decimal_str
from exchanges.models import Exchange, ExchangeMarket, Market
from trading.models import Opportunity, RiskSettings
from trading.services import risk
from trading.services.arbitrage import (
    ONE,
    ZERO,
    PreparedSide,
    SideFill,
    floor_to,
    max_within_budget,
    optimum_walk,
    pair_profit,
    prepare_asks,
    prepare_bids,
    side_fill,
)
from trading.services.balances import CachedBalances, balances_committed, balances_latest
from trading.services.books import CachedBook, books_latest
from trading.services.budgets import plans_screen

logger = logging.getLogger(__name__)

HUNDRED = Decimal("100")
PCT_PLACES = Decimal("0.000001")
# How long the last example of each rejection reason stays readable in Redis.
LAST_EXAMPLE_TTL_SECONDS = 24 * 3600


class Reason(StrEnum):
    """Why a (market, buy exchange, sell exchange) gave no opportunity."""

    BLOCKED = "blocked"  # kill switch or daily loss limit (trading_blocker)
    IN_FLIGHT = "in_flight"  # an opportunity of this pair is detected/executing
    NO_BOOK = "no_book"  # missing or empty book side
    STALE_BOOK = "stale_book"  # older than max_book_age_ms
    NOT_CROSSED = "not_crossed"  # no unit profitable after fees (the normal state)
    BELOW_MIN_PROFIT = "below_min_profit"  # even the uncapped optimum is below the minimum
    NO_BALANCE_DATA = "no_balance_data"  # no cached balances for an exchange
    NO_BALANCE = "insufficient_balance"  # a balance cap leaves nothing
    MAX_ORDER_VALUE = "max_order_value"  # the order value cap leaves nothing
    EXPOSURE = "exposure_cap"  # no exposure room left for the base asset
    TOO_SMALL = "too_small"  # rounds to zero, or a leg below min_order_value
    BELOW_MIN_PROFIT_AFTER_CAPS = "below_min_profit_after_caps"
    OUTBID = "outbid"  # profitable, but another pair of the market was better
    CAPITAL_BUDGET = "capital_budget"  # an exchange's capital budget refuses it (budgets.py)
    EXCHANGE_DOWN = "exchange_down"  # an exchange in exchange-down mode (budgets.py)


# Counted in the report only: recording them would write to Redis for every
# quiet pair on every tick, and they say nothing an operator acts on.
UNRECORDED = frozenset({Reason.NOT_CROSSED})

# Which rejection a cap gives when it alone leaves nothing to trade.
CAP_REASONS = {
    "balance_quote": Reason.NO_BALANCE,
    "balance_base": Reason.NO_BALANCE,
    "max_order_value_buy": Reason.MAX_ORDER_VALUE,
    "max_order_value_sell": Reason.MAX_ORDER_VALUE,
    "exposure": Reason.EXPOSURE,
}


# -- inputs and outputs of the pure cycle ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Listing:
    """One exchange's listing of one market, as detection needs it."""

    exchange: str
    taker_fee: Decimal
    amount_step: Decimal
    min_order_value: Decimal


@dataclass(frozen=True, slots=True)
class MarketListings:
    code: str
    base: str
    quote: str
    listings: tuple[Listing, ...]


@dataclass(frozen=True)
class Limits:
    """The risk settings of this cycle, by quote asset where they differ."""

    max_book_age_ms: int
    min_profit_pct: Decimal
    min_profit_abs: dict[str, Decimal]
    max_order_value: dict[str, Decimal | None]
    # Base asset → how much more may be opened; an absent asset has no limit.
    exposure_room: dict[str, Decimal]


@dataclass
class CycleInput:
    markets: list[MarketListings]
    books: dict[tuple[str, str], CachedBook]
    balances: dict[str, CachedBalances]
    limits: Limits
    now: datetime
    in_flight: set[tuple[str, str, str]] = field(default_factory=set)  # market, buy, sell
    blocked: dict[str, str] = field(default_factory=dict)  # quote asset → why


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    market: str
    buy_exchange: str
    sell_exchange: str
    figures: dict[str, str]


@dataclass
class Plan:
    """A decided opportunity: everything its row holds.

    ``details`` (the audit record, the costly part: every level as strings) is
    built by ``audit`` only for the pair that wins its market.
    """

    market: str
    quote: str
    buy_exchange: str
    sell_exchange: str
    quantity: Decimal
    buy_price: Decimal
    sell_price: Decimal
    buy_vwap: Decimal
    sell_vwap: Decimal
    buy_fee_rate: Decimal
    sell_fee_rate: Decimal
    expected_profit: Decimal
    expected_profit_pct: Decimal
    buy_book_age_ms: int
    sell_book_age_ms: int
    buy_quote_used: Decimal  # what the buy leg may lock: quantity × limit × (1 + fee)
    audit: Callable[[], dict[str, Any]] = field(repr=False, compare=False)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CycleResult:
    plans: list[Plan] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    books_seen: int = 0
    pairs_checked: int = 0


@dataclass
class DetectionReport:
    """What one detection cycle did, for the task's log and the bench."""

    books_seen: int = 0
    pairs_checked: int = 0
    opportunities_created: int = 0
    opportunity_ids: list[int] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    compute_ms: float = 0.0
    elapsed_ms: float = 0.0


# -- the pure cycle ---------------------------------------------------------------------


def _s(value: Decimal) -> str:
    """A Decimal for JSON and logs: plain digits, no exponent, no trailing zeros."""
    return decimal_str(value)


def _levels(pairs: tuple[tuple[Decimal, Decimal], ...]) -> list[list[str]]:
    return [[_s(price), _s(amount)] for price, amount in pairs]


class _Cycle:
    """State shared by the pairs of one cycle: prepared book sides (each
    built once, on first use) and the ledger of balances and exposure that
    earlier plans of this cycle have already spoken for."""

    def __init__(self, data: CycleInput) -> None:
        self.data = data
        self.limits = data.limits
        self.asks: dict[tuple[str, str], PreparedSide] = {}
        self.bids: dict[tuple[str, str], PreparedSide] = {}
        self.spent: Counter[tuple[str, str]] = Counter()  # (exchange, asset) → used
        self.exposure_used: Counter[str] = Counter()
        self.result = CycleResult()

    def prepared_asks(self, exchange: str, market: str, fee: Decimal) -> PreparedSide:
        side = self.asks.get((exchange, market))
        if side is None:
            side = self.asks[(exchange, market)] = prepare_asks(
                self.data.books[(exchange, market)].book.asks, fee)
        return side

    def prepared_bids(self, exchange: str, market: str, fee: Decimal) -> PreparedSide:
        side = self.bids.get((exchange, market))
        if side is None:
            side = self.bids[(exchange, market)] = prepare_bids(
                self.data.books[(exchange, market)].book.bids, fee)
        return side

    def available(self, exchange: str, asset: str) -> Decimal | None:
        cached = self.data.balances.get(exchange)
        if cached is None:
            return None
        return cached.available(asset) - self.spent[(exchange, asset)]


def cycle_evaluate(data: CycleInput) -> CycleResult:
    """Decide this cycle's opportunities and rejections. Pure: no I/O."""
    cycle = _Cycle(data)
    result = cycle.result
    max_age = data.limits.max_book_age_ms
    ages: dict[tuple[str, str], int] = {}
    for book_key, cached in data.books.items():
        ages[book_key] = cached.age_ms(data.now)
    result.books_seen = len(data.books)

    for market in sorted(data.markets, key=lambda m: m.code):
        blocked = data.blocked.get(market.quote)
        candidates: list[Plan] = []
        for buy in market.listings:
            for sell in market.listings:
                if buy.exchange == sell.exchange:
                    continue
                result.pairs_checked += 1
                if blocked:
                    outcome: Plan | Rejection = Rejection(
                        Reason.BLOCKED, market.code, buy.exchange, sell.exchange,
                        {"why": blocked})
                else:
                    outcome = _pair_evaluate(cycle, market, buy, sell, ages, max_age)
                if isinstance(outcome, Plan):
                    candidates.append(outcome)
                else:
                    result.rejections.append(outcome)
        if not candidates:
            continue
        candidates.sort(key=lambda plan: plan.expected_profit, reverse=True)
        best, others = candidates[0], candidates[1:]
        best.details = best.audit()
        best.details["outbid"] = [
            {"buy": o.buy_exchange, "sell": o.sell_exchange, "quantity": _s(o.quantity),
             "expected_profit": _s(o.expected_profit)} for o in others]
        for other in others:
            result.rejections.append(Rejection(
                Reason.OUTBID, market.code, other.buy_exchange, other.sell_exchange,
                {"expected_profit": _s(other.expected_profit),
                 "best_profit": _s(best.expected_profit),
                 "best_pair": f"{best.buy_exchange}->{best.sell_exchange}"}))
        result.plans.append(best)
        cycle.spent[(best.buy_exchange, market.quote)] += best.buy_quote_used
        cycle.spent[(best.sell_exchange, market.base)] += best.quantity
        cycle.exposure_used[market.base] += best.quantity
    return result


def _pair_evaluate(cycle: _Cycle, market: MarketListings, buy: Listing, sell: Listing,
                   ages: dict[tuple[str, str], int], max_age: int) -> Plan | Rejection:
    data, limits = cycle.data, cycle.limits
    code, quote, base = market.code, market.quote, market.base

    def reject(reason: Reason, **figures: Any) -> Rejection:
        return Rejection(reason, code, buy.exchange, sell.exchange,
                         {name: _s(v) if isinstance(v, Decimal) else str(v)
                          for name, v in figures.items()})

    if (code, buy.exchange, sell.exchange) in data.in_flight:
        return reject(Reason.IN_FLIGHT)
    buy_key, sell_key = (buy.exchange, code), (sell.exchange, code)
    buy_book, sell_book = data.books.get(buy_key), data.books.get(sell_key)
    if buy_book is None or sell_book is None or not buy_book.book.asks or not sell_book.book.bids:
        return reject(Reason.NO_BOOK, buy_book=buy_book is not None,
                      sell_book=sell_book is not None)
    buy_age, sell_age = ages[buy_key], ages[sell_key]
    if buy_age > max_age or sell_age > max_age:
        return reject(Reason.STALE_BOOK, buy_age_ms=buy_age, sell_age_ms=sell_age,
                      max_book_age_ms=max_age)
    # The early exit, before preparing any depth: best bid vs best ask after fees.
    best_ask, best_bid = buy_book.book.asks[0].price, sell_book.book.bids[0].price
    if best_bid * (ONE - sell.taker_fee) <= best_ask * (ONE + buy.taker_fee):
        return reject(Reason.NOT_CROSSED, best_ask=best_ask, best_bid=best_bid)

    asks = cycle.prepared_asks(buy.exchange, code, buy.taker_fee)
    bids = cycle.prepared_bids(sell.exchange, code, sell.taker_fee)
    optimum = optimum_walk(asks, bids)
    if optimum is None:  # only when the best levels had no amount
        return reject(Reason.NOT_CROSSED, best_ask=best_ask, best_bid=best_bid)
    min_abs = limits.min_profit_abs.get(quote, ZERO)
    if optimum.profit < min_abs:  # the optimum is the most any size can make
        return reject(Reason.BELOW_MIN_PROFIT, quantity=optimum.quantity,
                      profit=optimum.profit, min_profit_abs=min_abs)

    quote_available = cycle.available(buy.exchange, quote)
    base_available = cycle.available(sell.exchange, base)
    if quote_available is None or base_available is None:
        missing = [name for name, value in ((buy.exchange, quote_available),
                                            (sell.exchange, base_available)) if value is None]
        return reject(Reason.NO_BALANCE_DATA, exchanges=",".join(missing),
                      quantity=optimum.quantity, profit=optimum.profit)

    # Caps, each a maximum base quantity below which every size is allowed.
    # Values are at the limit price of the size (what the order is worth and
    # what the buy locks with its fee), walked level by level.
    upto = optimum.quantity
    caps: dict[str, Decimal] = {
        "balance_quote": max_within_budget(asks, quote_available, upto=upto, factor=asks.factor,
                                           limit=optimum.buy_limit),
        "balance_base": max(ZERO, base_available),
    }
    max_value = limits.max_order_value.get(quote)
    if max_value is not None:
        caps["max_order_value_buy"] = max_within_budget(asks, max_value, upto=upto,
                                                        limit=optimum.buy_limit)
        caps["max_order_value_sell"] = max_within_budget(bids, max_value, upto=upto,
                                                         limit=optimum.sell_limit)
    room = limits.exposure_room.get(base)
    if room is not None:
        caps["exposure"] = max(ZERO, room - cycle.exposure_used[base])
    binding = min(caps, key=caps.__getitem__)
    capped = min(optimum.quantity, caps[binding])
    step = max(buy.amount_step, sell.amount_step)
    quantity = floor_to(capped, step)
    applied = sorted(name for name, value in caps.items() if value < optimum.quantity)
    if quantity <= 0:
        if caps[binding] <= 0:
            return reject(CAP_REASONS[binding], cap=binding, cap_value=caps[binding],
                          quantity=optimum.quantity)
        return reject(Reason.TOO_SMALL, capped=capped, amount_step=step, caps=",".join(applied))

    if quantity == optimum.quantity:  # uncapped: the walk already has the figures
        buy_fill = SideFill(quantity, optimum.buy_notional, optimum.buy_limit, ())
        sell_fill = SideFill(quantity, optimum.sell_notional, optimum.sell_limit, ())
    else:
        buy_fill = side_fill(asks, quantity)
        sell_fill = side_fill(bids, quantity)
    buy_value, sell_value = quantity * buy_fill.limit, quantity * sell_fill.limit
    if buy_value < buy.min_order_value or sell_value < sell.min_order_value:
        return reject(Reason.TOO_SMALL, quantity=quantity, buy_value=buy_value,
                      sell_value=sell_value, buy_min=buy.min_order_value,
                      sell_min=sell.min_order_value, caps=",".join(applied))
    profit = pair_profit(buy_fill, sell_fill, asks, bids)
    buy_cost = buy_fill.notional * asks.factor
    profit_pct = profit / buy_cost * HUNDRED
    if profit < min_abs or profit_pct < limits.min_profit_pct:
        optimum_pct = optimum.profit / (optimum.buy_notional * asks.factor) * HUNDRED
        optimum_ok = optimum_pct >= limits.min_profit_pct  # (abs already checked)
        return reject(Reason.BELOW_MIN_PROFIT_AFTER_CAPS if optimum_ok else Reason.BELOW_MIN_PROFIT,
                      quantity=quantity, profit=profit, profit_pct=profit_pct.quantize(PCT_PLACES),
                      uncapped_quantity=optimum.quantity, uncapped_profit=optimum.profit,
                      min_profit_abs=min_abs, min_profit_pct=limits.min_profit_pct,
                      caps=",".join(applied))

    def audit() -> dict[str, Any]:
        """The audit record: only built for the pair that wins its market."""
        buy_cached = data.balances[buy.exchange]
        sell_cached = data.balances[sell.exchange]
        return {
            "formula": "profit = sum(bid*amount)*(1-sell_fee) - sum(ask*amount)*(1+buy_fee)",
            "buy_levels": _levels(side_fill(asks, quantity).levels),
            "sell_levels": _levels(side_fill(bids, quantity).levels),
            "best_ask": _s(best_ask),
            "best_bid": _s(best_bid),
            "uncapped": {
                "quantity": _s(optimum.quantity), "profit": _s(optimum.profit),
                "buy_limit": _s(optimum.buy_limit), "sell_limit": _s(optimum.sell_limit),
                "ask_levels": optimum.ask_levels, "bid_levels": optimum.bid_levels,
            },
            "caps": {name: _s(value) for name, value in caps.items()},
            "caps_applied": applied,
            "binding_cap": binding if caps[binding] < optimum.quantity else None,
            "balances": {
                "buy": {"exchange": buy.exchange, "asset": quote, "available": _s(quote_available),
                        "cached": _s(buy_cached.available(quote)),
                        "fetched_at": buy_cached.fetched_at.isoformat()},
                "sell": {"exchange": sell.exchange, "asset": base, "available": _s(base_available),
                         "cached": _s(sell_cached.available(base)),
                         "fetched_at": sell_cached.fetched_at.isoformat()},
            },
            "max_order_value": _s(max_value) if max_value is not None else None,
            "exposure_room": _s(room) if room is not None else None,
            "amount_step": _s(step),
            "min_order_value": {"buy": _s(buy.min_order_value), "sell": _s(sell.min_order_value)},
            "min_profit": {"pct": _s(limits.min_profit_pct), "abs": _s(min_abs)},
            "buy_cost": _s(buy_cost),
            "books_fetched_at": {"buy": buy_book.fetched_at.isoformat(),
                                 "sell": sell_book.fetched_at.isoformat()},
            "max_book_age_ms": max_age,
        }

    return Plan(
        market=code, quote=quote, buy_exchange=buy.exchange, sell_exchange=sell.exchange,
        quantity=quantity, buy_price=buy_fill.limit, sell_price=sell_fill.limit,
        buy_vwap=buy_fill.vwap, sell_vwap=sell_fill.vwap,
        buy_fee_rate=buy.taker_fee, sell_fee_rate=sell.taker_fee,
        expected_profit=profit, expected_profit_pct=profit_pct.quantize(PCT_PLACES),
        buy_book_age_ms=buy_age, sell_book_age_ms=sell_age, audit=audit,
        buy_quote_used=quantity * buy_fill.limit * asks.factor,
    )


# -- the service -------------------------------------------------------------------------


def _listings() -> tuple[list[MarketListings], dict[str, Exchange], dict[str, Market]]:
    """Enabled markets with their tradable listings (one query)."""
    rows = (ExchangeMarket.objects
            .filter(enabled=True, market__enabled=True,
                    exchange__enabled=True, exchange__trading_enabled=True)
            .select_related("exchange", "market")
            # Detection never needs the credentials: not read, not decrypted.
            .defer("exchange__api_key", "exchange__api_secret")
            .order_by("market__base", "market__quote", "exchange__name"))
    by_market: dict[str, list[Listing]] = {}
    exchanges: dict[str, Exchange] = {}
    markets: dict[str, Market] = {}
    for row in rows:
        code = row.market.code
        markets[code] = row.market
        exchanges[row.exchange.name] = row.exchange
        by_market.setdefault(code, []).append(Listing(
            row.exchange.name, row.exchange.taker_fee, row.amount_step, row.min_order_value))
    result = [MarketListings(code, markets[code].base, markets[code].quote, tuple(listings))
              for code, listings in by_market.items() if len(listings) > 1]
    return result, exchanges, markets


@dataclass(frozen=True)
class InFlight:
    """The in-flight opportunities, read once per cycle: their pairs (not
    detected again) and what they plan to trade (their exposure)."""

    pairs: set[tuple[str, str, str]]  # market code, buy exchange, sell exchange
    quantities: list[tuple[str, Decimal]]  # base asset, quantity


def _in_flight() -> InFlight:
    """Every in-flight opportunity: one query."""
    rows = (Opportunity.objects.filter(status__in=risk.IN_FLIGHT)
            .values_list("market__base", "market__quote", "buy_exchange__name",
                         "sell_exchange__name", "quantity"))
    pairs: set[tuple[str, str, str]] = set()
    quantities: list[tuple[str, Decimal]] = []
    for base, quote, buy, sell, quantity in rows:
        pairs.add((f"{base}-{quote}", buy, sell))
        quantities.append((base, quantity))
    return InFlight(pairs, quantities)


def _limits(markets: list[MarketListings], row: RiskSettings, in_flight: InFlight) -> Limits:
    quotes = {m.quote for m in markets}
    bases = {m.base for m in markets}
    exposure_room: dict[str, Decimal] = {}
    limited = {base: limit for base in bases
               if (limit := risk.exposure_limit(row, base)) is not None}
    if limited:
        open_now = risk.exposure_open(in_flight=in_flight.quantities)
        exposure_room = {base: limit - open_now.get(base, ZERO) for base, limit in limited.items()}
    return Limits(
        max_book_age_ms=row.max_book_age_ms,
        min_profit_pct=row.min_profit_pct,
        min_profit_abs={q: risk.min_profit_abs(row, q) for q in quotes},
        max_order_value={q: risk.max_order_value(row, q) for q in quotes},
        exposure_room=exposure_room,
    )


def _record(result: CycleResult, report: DetectionReport, now: datetime) -> None:
    """Rejection counters and the last example of each reason, in Redis:
    visible without a row per tick. One round trip; a Redis error is logged,
    never allowed to stop detection."""
    counts = Counter(r.reason for r in result.rejections)
    report.rejections = {str(reason): n for reason, n in sorted(counts.items())}
    last: dict[Reason, Rejection] = {r.reason: r for r in result.rejections}
    recorded = {reason: n for reason, n in counts.items() if reason not in UNRECORDED}
    if not recorded:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for reason, n in recorded.items():
            pipe.hincrby(key("detection", "rejections"), str(reason), n)
            example = last[reason]
            pipe.set(key("detection", "last", str(reason)), json.dumps({
                "at": now.isoformat(), "market": example.market,
                "buy_exchange": example.buy_exchange, "sell_exchange": example.sell_exchange,
                "figures": example.figures,
            }), ex=LAST_EXAMPLE_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("detection: could not record rejection counters: %s", exc)


def detection_rejections() -> dict[str, int]:
    """The rejection counters recorded so far, by reason (a selector for the admin)."""
    return {reason: int(n) for reason, n in
            redis_client().hgetall(key("detection", "rejections")).items()}


def _create(plan: Plan, exchanges: dict[str, Exchange], markets: dict[str, Market]
            ) -> Opportunity | None:
    """One row in its own savepoint (or alone in autocommit): should a unique
    constraint on in-flight pairs exist (or come), a concurrent cycle's
    duplicate is dropped, not fatal."""
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            return Opportunity.objects.create(
                market=markets[plan.market],
                buy_exchange=exchanges[plan.buy_exchange],
                sell_exchange=exchanges[plan.sell_exchange],
                quote_asset=plan.quote,
                quantity=plan.quantity,
                buy_price=plan.buy_price,
                sell_price=plan.sell_price,
                buy_vwap=plan.buy_vwap,
                sell_vwap=plan.sell_vwap,
                buy_fee_rate=plan.buy_fee_rate,
                sell_fee_rate=plan.sell_fee_rate,
                expected_profit=plan.expected_profit,
                expected_profit_pct=plan.expected_profit_pct,
                buy_book_age_ms=plan.buy_book_age_ms,
                sell_book_age_ms=plan.sell_book_age_ms,
                details=plan.details,
            )
    except IntegrityError as exc:
        logger.warning("detection: %s %s->%s not created (%s)", plan.market,
                       plan.buy_exchange, plan.sell_exchange, exc)
        return None


def opportunities_detect(*, now: datetime | None = None) -> DetectionReport:
    """One detection cycle on the latest books; returns what it did and why."""
    from trading.tasks import execute_opportunity  # tasks import services: no cycle at load

    started = time.perf_counter()
    now = now or timezone.now()
    report = DetectionReport()
    markets, exchanges, market_rows = _listings()
    quotes = sorted({m.quote for m in markets})
    # The risk settings and today's P&L, read from the database once per cycle
    # (an operator's change applies to the next cycle), used for all of it.
    settings_row, pnl = risk.risk_read(quote_assets=quotes, at=now)
    blocked = risk.trading_blockers(quote_assets=quotes, settings_row=settings_row, pnl=pnl)
    report.blocked = blocked
    if quotes and len(blocked) == len(quotes):
        logger.debug("detection: nothing to do, trading blocked: %s", blocked)
        _record_blocked(blocked, now)
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        return report

    in_flight = _in_flight()
    data = CycleInput(
        markets=markets,
        books=books_latest(),
        # As they stand now: less what was committed since each read.
        balances=balances_committed(balances_latest(sorted(exchanges))),
        limits=_limits(markets, settings_row, in_flight),
        now=now,
        in_flight=in_flight.pairs,
        blocked=blocked,
    )
    compute_started = time.perf_counter()
    result = cycle_evaluate(data)
    report.compute_ms = (time.perf_counter() - compute_started) * 1000
    plans_screen(result)  # capital budgets and exchange-down mode (trading/services/budgets.py)
    report.books_seen, report.pairs_checked = result.books_seen, result.pairs_checked

    for rejection in result.rejections:
        logger.debug("detection: %s %s->%s rejected: %s %s", rejection.market,
                     rejection.buy_exchange, rejection.sell_exchange, rejection.reason,
                     rejection.figures)
    if result.plans:
        _plans_write(result, report, exchanges, market_rows, execute_opportunity.delay)
    report.opportunities_created = len(report.opportunity_ids)
    _record(result, report, now)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


def _plans_write(result: CycleResult, report: DetectionReport, exchanges: dict[str, Exchange],
                 markets: dict[str, Market], enqueue: Callable[[int], Any]) -> None:
    """The cycle's rows in one transaction; each execution enqueued after commit.

    The usual cycle has one plan: outside any transaction its row is one
    INSERT in autocommit (atomic by itself: no BEGIN, savepoint or COMMIT
    round trips), and ``on_commit`` enqueues at once, after it."""
    single = len(result.plans) == 1 and not transaction.get_connection().in_atomic_block
    with nullcontext() if single else transaction.atomic():
        for plan in result.plans:
            opportunity = _create(plan, exchanges, markets)
            if opportunity is None:
                result.rejections.append(Rejection(
                    Reason.IN_FLIGHT, plan.market, plan.buy_exchange, plan.sell_exchange,
                    {"note": "not created: integrity error"}))
                continue
            report.opportunity_ids.append(opportunity.id)
            transaction.on_commit(partial(enqueue, opportunity.id))
            logger.info(
                "detection: opportunity #%s %s buy %s @%s sell %s @%s qty %s profit %s %s "
                "(%s%%)", opportunity.id, plan.market, plan.buy_exchange, _s(plan.buy_price),
                plan.sell_exchange, _s(plan.sell_price), _s(plan.quantity),
                _s(plan.expected_profit), plan.quote, _s(plan.expected_profit_pct))


def _record_blocked(blocked: dict[str, str], now: datetime) -> None:
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.hincrby(key("detection", "rejections"), str(Reason.BLOCKED), 1)
        pipe.set(key("detection", "last", str(Reason.BLOCKED)),
                 json.dumps({"at": now.isoformat(), "blocked": blocked}),
                 ex=LAST_EXAMPLE_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("detection: could not record the blocked cycle: %s", exc)
