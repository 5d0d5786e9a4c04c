"""The pure detection cycle: from the latest books, balances and limits to
the plans (opportunities to write) and the rejections of one cycle. No I/O:
what the bench times (see ``trading.services.detection`` for the rules, and
``trading.services.arbitrage`` for the profit formula).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from exchanges.markets import decimal_str
from trading.detection.rejections import CAP_REASONS, Reason, Rejection
from trading.detection.slippage import Buffer, SlippageSetting, buffer_apply
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
from trading.services.balances import CachedBalances
from trading.services.book_sanity import MidQuote, book_mid, books_deviating
from trading.services.books import CachedBook

HUNDRED = Decimal("100")
PCT_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Listing:
    """One exchange's listing of one market, as detection needs it."""

    exchange: str
    taker_fee: Decimal
    amount_step: Decimal
    min_order_value: Decimal
    price_tick: Decimal = ONE  # project units: where a buffered limit price is rounded


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
    # A book whose mid strays more than this percent from the other exchanges'
    # median mid is refused (book_sanity.books_deviating); 0: not checked.
    max_book_deviation_pct: Decimal = Decimal("0")
    # Base asset → why a setting of it cannot be read (its markets are skipped).
    bad_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    # Market code → the slippage buffer in force (trading.detection.slippage);
    # an absent market has none.
    slippage: dict[str, SlippageSetting] = field(default_factory=dict)


@dataclass
class CycleInput:
    markets: list[MarketListings]
    books: dict[tuple[str, str], CachedBook]
    balances: dict[str, CachedBalances]
    limits: Limits
    now: datetime
    in_flight: set[tuple[str, str, str]] = field(default_factory=set)  # market, buy, sell
    blocked: dict[str, str] = field(default_factory=dict)  # quote asset → why
    # (market, buy, sell) → the rejection of a pair refused outright (capital
    # budgets, exchange-down mode: trading.services.budgets.plans_refused).
    refused: dict[tuple[str, str, str], Rejection] = field(default_factory=dict)


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
    # Every unit at its (buffered) limit price, after both fees.
    worst_case_profit: Decimal | None = None


@dataclass
class CycleResult:
    plans: list[Plan] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    books_seen: int = 0
    pairs_checked: int = 0
    # (exchange, market) → why its book was refused: flagged when stored, or
    # straying from the other exchanges' (recorded by the caller).
    bad_books: dict[tuple[str, str], str] = field(default_factory=dict)
    deviating: dict[tuple[str, str], str] = field(default_factory=dict)


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
    quotes: list[MidQuote] = []
    for book_key, cached in data.books.items():
        ages[book_key] = age = cached.age_ms(data.now)
        if cached.rejected:
            result.bad_books[book_key] = cached.rejected
        elif age <= max_age and (mid := book_mid(cached.book)) is not None:
            quotes.append(MidQuote(book_key[0], book_key[1], mid))
    result.deviating = books_deviating(quotes, max_pct=data.limits.max_book_deviation_pct)
    result.bad_books.update(result.deviating)
    result.books_seen = len(data.books)

    for market in sorted(data.markets, key=lambda m: m.code):
        blocked = data.blocked.get(market.quote)
        bad_setting = data.limits.bad_settings.get(market.base)
        candidates: list[Plan] = []
        for buy in market.listings:
            for sell in market.listings:
                if buy.exchange == sell.exchange:
                    continue
                result.pairs_checked += 1
                refusal = data.refused.get((market.code, buy.exchange, sell.exchange))
                if blocked:
                    outcome: Plan | Rejection = Rejection(
                        Reason.BLOCKED, market.code, buy.exchange, sell.exchange,
                        {"why": blocked})
                elif bad_setting is not None:
                    outcome = Rejection(Reason.BAD_SETTING, market.code, buy.exchange,
                                        sell.exchange, bad_setting)
                elif refusal is not None:
                    outcome = refusal
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
    bad = cycle.result.bad_books
    if buy_key in bad or sell_key in bad:
        return reject(Reason.BAD_BOOK, **{f"{side}_book": f"{key[0]}: {bad[key]}"
                                          for side, key in (("buy", buy_key), ("sell", sell_key))
                                          if key in bad})
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

    buffer = _buffer(limits, market, buy, sell, quantity, buy_fill.limit, sell_fill.limit,
                     quote_available, max_value, min_abs)

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
            "slippage": buffer.record(),
        }

    return Plan(
        market=code, quote=quote, buy_exchange=buy.exchange, sell_exchange=sell.exchange,
        quantity=quantity, buy_price=buffer.buy_limit, sell_price=buffer.sell_limit,
        buy_vwap=buy_fill.vwap, sell_vwap=sell_fill.vwap,
        buy_fee_rate=buy.taker_fee, sell_fee_rate=sell.taker_fee,
        expected_profit=profit, expected_profit_pct=profit_pct.quantize(PCT_PLACES),
        buy_book_age_ms=buy_age, sell_book_age_ms=sell_age, audit=audit,
        buy_quote_used=quantity * buffer.buy_limit * asks.factor,
        worst_case_profit=buffer.worst_profit,
    )


NO_BUFFER = SlippageSetting(ZERO, "default")


def _buffer(limits: Limits, market: MarketListings, buy: Listing, sell: Listing,
            quantity: Decimal, buy_level: Decimal, sell_level: Decimal,
            quote_available: Decimal, max_value: Decimal | None, min_abs: Decimal) -> Buffer:
    """The slippage buffer of this plan: its limit prices and their worst case."""
    return buffer_apply(
        setting=limits.slippage.get(market.code, NO_BUFFER), quantity=quantity,
        buy_level=buy_level, sell_level=sell_level,
        buy_fee=buy.taker_fee, sell_fee=sell.taker_fee,
        buy_tick=buy.price_tick, sell_tick=sell.price_tick,
        min_profit_abs=min_abs, min_profit_pct=limits.min_profit_pct,
        quote_available=quote_available, max_order_value=max_value,
        sell_min_order_value=sell.min_order_value)
