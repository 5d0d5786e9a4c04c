"""Cross-exchange arbitrage arithmetic: pure functions over book levels.

No database, no Redis, no clock: detection and the bench call these with
books already in project units (rial for IRR markets).

Fee semantics — one formula, used everywhere in detection:

    profit(q) = Σ bid notional(q) × (1 − fee_sell) − Σ ask notional(q) × (1 + fee_buy)

A taker fee is charged on the quote value of its leg: buying ``q`` costs its
ask notional plus the buy exchange's fee, selling ``q`` yields its bid
notional minus the sell exchange's fee. Every level therefore has an
*effective* price (ask × (1 + fee_buy), bid × (1 − fee_sell)), and a unit
is worth trading exactly when its effective bid is above its effective ask.
Asks rise and bids fall with depth, so the marginal profit only decreases:
the walk may stop at the first unprofitable unit and has found the maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from exchanges.types import BookLevel

ZERO = Decimal("0")
ONE = Decimal("1")


@dataclass(frozen=True, slots=True)
class PreparedSide:
    """One side of one book, ready to walk: parallel tuples (best level first)
    and the fee factor that turns a price into what a unit really costs/yields.

    Built once per book side per detection cycle and shared by every pair
    that walks it, so no level object is touched in the inner loop.
    """

    prices: tuple[Decimal, ...]
    amounts: tuple[Decimal, ...]
    effective: tuple[Decimal, ...]
    factor: Decimal

    def __len__(self) -> int:
        return len(self.prices)


def _prepare(levels: Iterable[BookLevel], factor: Decimal) -> PreparedSide:
    levels = tuple(levels)
    prices = [level.price for level in levels]
    amounts = [level.amount for level in levels]
    if not all(amount > 0 for amount in amounts):  # rare: drop empty levels
        kept = [(p, a) for p, a in zip(prices, amounts, strict=True) if a > 0]
        prices, amounts = [p for p, _ in kept], [a for _, a in kept]
    return PreparedSide(
        prices=tuple(prices),
        amounts=tuple(amounts),
        effective=tuple([price * factor for price in prices]),
        factor=factor,
    )


def prepare_asks(levels: Iterable[BookLevel], fee: Decimal) -> PreparedSide:
    """Asks of the exchange we buy on: a unit costs price × (1 + fee)."""
    return _prepare(levels, ONE + fee)


def prepare_bids(levels: Iterable[BookLevel], fee: Decimal) -> PreparedSide:
    """Bids of the exchange we sell on: a unit yields price × (1 − fee)."""
    return _prepare(levels, ONE - fee)


@dataclass(frozen=True, slots=True)
class Optimum:
    """The size that maximises profit after fees, before any cap."""

    quantity: Decimal
    buy_notional: Decimal
    sell_notional: Decimal
    buy_limit: Decimal
    sell_limit: Decimal
    profit: Decimal
    ask_levels: int
    bid_levels: int


def optimum_walk(asks: PreparedSide, bids: PreparedSide) -> Optimum | None:
    """Walk both books' depth together (two pointers over the merged level
    boundaries) while the marginal unit is profitable after both fees.

    None when not even the best unit is profitable (the common case, decided
    by one comparison). Limits are the worst levels the size needs: the
    highest ask and the lowest bid consumed.
    """
    n_asks, n_bids = len(asks.prices), len(bids.prices)
    if not n_asks or not n_bids:
        return None
    ask_eff, bid_eff = asks.effective, bids.effective
    if bid_eff[0] <= ask_eff[0]:
        return None
    ask_prices, ask_amounts = asks.prices, asks.amounts
    bid_prices, bid_amounts = bids.prices, bids.amounts
    i = j = 0
    ask_left, bid_left = ask_amounts[0], bid_amounts[0]
    quantity = buy = sell = ZERO
    while True:
        take = ask_left if ask_left < bid_left else bid_left
        quantity += take
        buy += ask_prices[i] * take
        sell += bid_prices[j] * take
        ask_left -= take
        bid_left -= take
        last_i, last_j = i, j
        if not ask_left:
            i += 1
            if i == n_asks:
                break
            ask_left = ask_amounts[i]
        if not bid_left:
            j += 1
            if j == n_bids:
                break
            bid_left = bid_amounts[j]
        if bid_eff[j] <= ask_eff[i]:
            break
    return Optimum(
        quantity=quantity,
        buy_notional=buy,
        sell_notional=sell,
        buy_limit=ask_prices[last_i],
        sell_limit=bid_prices[last_j],
        profit=sell * bids.factor - buy * asks.factor,
        ask_levels=last_i + 1,
        bid_levels=last_j + 1,
    )


@dataclass(frozen=True, slots=True)
class SideFill:
    """``quantity`` taken from the top of one side: its notional, its worst
    (limit) price and the levels used as (price, amount taken)."""

    quantity: Decimal
    notional: Decimal
    limit: Decimal
    levels: tuple[tuple[Decimal, Decimal], ...]

    @property
    def vwap(self) -> Decimal:
        return self.notional / self.quantity if self.quantity else ZERO


def side_fill(side: PreparedSide, quantity: Decimal) -> SideFill:
    """Take ``quantity`` from the best levels down. Raises ValueError when the
    side is too shallow (a caller bug: a capped size never exceeds the optimum)."""
    left = quantity
    notional = ZERO
    used: list[tuple[Decimal, Decimal]] = []
    for price, amount in zip(side.prices, side.amounts, strict=True):
        if left <= 0:
            break
        take = amount if amount < left else left
        notional += price * take
        used.append((price, take))
        left -= take
    if left > 0:
        raise ValueError(f"book too shallow for {quantity}: {left} missing")
    return SideFill(quantity, notional, used[-1][0] if used else ZERO, tuple(used))


def pair_profit(buy: SideFill, sell: SideFill, asks: PreparedSide, bids: PreparedSide) -> Decimal:
    """The module formula on two fills of the same size."""
    return sell.notional * bids.factor - buy.notional * asks.factor


def max_within_budget(side: PreparedSide, budget: Decimal, *, upto: Decimal,
                      factor: Decimal = ONE, limit: Decimal | None = None) -> Decimal:
    """The largest ``Q ≤ upto`` such that *every* size ``q ≤ Q`` keeps
    ``q × limit(q) × factor ≤ budget``, where ``limit(q)`` is the worst level
    ``q`` needs — what an order at its limit price is worth (or locks).

    On the ask side the value only grows with ``q``, so this is exact. On the
    bid side the limit falls at each new level and the value can dip back
    under the budget past a level boundary; stopping at the first level where
    it binds keeps every smaller size (another cap, the rounding) safe too.
    ``limit``, the worst level ``upto`` needs, lets a loose budget answer at once.
    """
    if budget <= 0 or not side.prices:
        return ZERO
    if limit is not None:  # known worst price of ``upto``: O(1) when the budget is loose
        highest = limit if limit > side.prices[0] else side.prices[0]
        if upto * highest * factor <= budget:
            return upto
    before = ZERO
    for price, amount in zip(side.prices, side.amounts, strict=True):
        if before >= upto:
            break
        through = before + amount
        if through > upto:
            through = upto
        unit = price * factor
        if through * unit > budget:  # binds in this level: one division, here only
            affordable = budget / unit
            return affordable if affordable > before else before
        before = through
    return upto


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step`` (amounts are never rounded up)."""
    if value <= 0:
        return ZERO
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step
