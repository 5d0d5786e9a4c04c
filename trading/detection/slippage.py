"""The slippage buffer: how far beyond the worst walked level a leg's limit
price may go, so that a book that moved a little between the read and the
order still fills the leg instead of leaving it resting (and the other leg
to be unwound at a loss). Pure: no I/O.

The rule, for a size ``q`` whose worst walked levels are ``ask`` (buy) and
``bid`` (sell), taker fees ``fb`` and ``fs``, and a buffer ``β`` (basis
points / 10 000), the same on both legs (each leg gives up the same share of
its price, so neither exchange carries the whole buffer):

    buy limit  = ask × (1 + β), rounded DOWN to the buy listing's tick
    sell limit = bid × (1 − β), rounded UP to the sell listing's tick

Rounding goes towards the walked level: never more buffer than allowed.

The worst case is every unit filled at its limit price:

    worst(β) = q × (sell limit × (1 − fs) − buy limit × (1 + fb))

and ``β`` is the largest value, at most the configured one, for which every
bound below still holds (each solved for ``β``; the smallest one binds):

* ``min_profit_abs``:  worst(β) ≥ the minimum profit in the quote asset;
* ``min_profit_pct``:  worst(β) ≥ min % × the buy cost at its limit, fee included;
* ``balance_quote``:   q × buy limit × (1 + fb) ≤ the quote available on the buyer
  (what the buy order locks);
* ``max_order_value_buy``:  q × buy limit ≤ the maximum order value;
* ``min_order_value_sell``: q × sell limit ≥ the sell listing's minimum value.

A bound already broken at ``β = 0`` (a size walked to its last profitable
unit makes nothing at its worst levels) gives no buffer at all: the order
goes at the walked levels, as without a buffer. The expected profit (at the
walked depth's VWAP) does not change; the worst case is recorded beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from exchanges.markets import decimal_str, split_market

ZERO = Decimal("0")
ONE = Decimal("1")
HUNDRED = Decimal("100")
BPS = Decimal("10000")
BPS_PLACES = Decimal("0.01")  # a buffer is kept to a hundredth of a basis point, floored
MAX_SLIPPAGE_BPS = Decimal("500")  # 5 %: anything beyond is a typing error, refused

CONFIGURED = "configured"
# The bounds in the order they are reported (the first smallest one binds).
BOUNDS = (CONFIGURED, "min_profit_abs", "min_profit_pct", "balance_quote",
          "max_order_value_buy", "min_order_value_sell")


@dataclass(frozen=True, slots=True)
class SlippageSetting:
    """The buffer in force for one market, and where it comes from."""

    bps: Decimal
    source: str  # "default" (the risk settings) or "market" (its override)


@dataclass(frozen=True, slots=True)
class Buffer:
    """A buffer applied to one plan: what was asked, what each bound allows
    (bps), the one that bound it, and the prices and worst case that result."""

    setting: SlippageSetting
    bps: Decimal
    bounds: dict[str, Decimal]
    binding: str
    buy_level: Decimal
    sell_level: Decimal
    buy_limit: Decimal
    sell_limit: Decimal
    worst_profit: Decimal
    worst_profit_pct: Decimal

    def record(self) -> dict[str, Any]:
        """The decision record's ``slippage`` entry (Decimals as strings)."""
        return {
            "configured_bps": decimal_str(self.setting.bps),
            "source": self.setting.source,
            "bps": decimal_str(self.bps),
            "binding": self.binding,
            "bounds_bps": {name: decimal_str(value) for name, value in self.bounds.items()},
            "buy_level": decimal_str(self.buy_level),
            "sell_level": decimal_str(self.sell_level),
            "buy_limit": decimal_str(self.buy_limit),
            "sell_limit": decimal_str(self.sell_limit),
            "worst_profit": decimal_str(self.worst_profit),
            "worst_profit_pct": decimal_str(self.worst_profit_pct),
        }


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _as_bps(fraction: Decimal) -> Decimal:
    """A fraction of the price as basis points, floored to BPS_PLACES, never negative."""
    if fraction <= 0:
        return ZERO
    return _floor(fraction * BPS, BPS_PLACES)


def limit_prices(*, buy_level: Decimal, sell_level: Decimal, bps: Decimal,
                 buy_tick: Decimal, sell_tick: Decimal) -> tuple[Decimal, Decimal]:
    """The two limit prices for a buffer of ``bps``, on their ticks, never
    beyond the buffer and never inside the walked levels."""
    beta = bps / BPS
    buy = _floor(buy_level * (ONE + beta), buy_tick)
    sell = _ceil(sell_level * (ONE - beta), sell_tick)
    return max(buy, buy_level), min(sell, sell_level)


def buffer_apply(*, setting: SlippageSetting, quantity: Decimal, buy_level: Decimal,
                 sell_level: Decimal, buy_fee: Decimal, sell_fee: Decimal,
                 buy_tick: Decimal, sell_tick: Decimal, min_profit_abs: Decimal,
                 min_profit_pct: Decimal, quote_available: Decimal | None = None,
                 max_order_value: Decimal | None = None,
                 sell_min_order_value: Decimal = ZERO) -> Buffer:
    """The buffer for one plan (see the module docstring for the rule)."""
    q = quantity
    a = sell_level * (ONE - sell_fee)  # what a unit sold at the walked bid yields
    b = buy_level * (ONE + buy_fee)  # what a unit bought at the walked ask costs
    m = min_profit_pct / HUNDRED
    bounds: dict[str, Decimal] = {CONFIGURED: max(ZERO, setting.bps)}
    if q > 0 and a > 0 and b > 0:
        bounds["min_profit_abs"] = _as_bps((a - b - min_profit_abs / q) / (a + b))
        bounds["min_profit_pct"] = _as_bps((a - (ONE + m) * b) / (a + (ONE + m) * b))
        if quote_available is not None:
            bounds["balance_quote"] = _as_bps(quote_available / (q * b) - ONE)
        if max_order_value is not None:
            bounds["max_order_value_buy"] = _as_bps(max_order_value / (q * buy_level) - ONE)
        if sell_min_order_value > 0:
            bounds["min_order_value_sell"] = _as_bps(ONE - sell_min_order_value / (q * sell_level))
    else:  # nothing to buffer (a caller never sends this; no division by zero)
        bounds[CONFIGURED] = ZERO
    binding = min(bounds, key=bounds.__getitem__)
    bps = bounds[binding]
    buy_limit, sell_limit = limit_prices(buy_level=buy_level, sell_level=sell_level, bps=bps,
                                         buy_tick=buy_tick, sell_tick=sell_tick)
    worst = q * (sell_limit * (ONE - sell_fee) - buy_limit * (ONE + buy_fee))
    cost = q * buy_limit * (ONE + buy_fee)
    worst_pct = (worst / cost * HUNDRED).quantize(Decimal("0.000001")) if cost else ZERO
    return Buffer(setting=setting, bps=bps, bounds=bounds, binding=binding,
                  buy_level=buy_level, sell_level=sell_level, buy_limit=buy_limit,
                  sell_limit=sell_limit, worst_profit=worst, worst_profit_pct=worst_pct)


# --- the per-market overrides (RiskSettings.slippage_bps_by_market) ---------------

def bps_parse(value: Any, *, what: str) -> Decimal:
    """A buffer in basis points from its text: a decimal string from 0 to
    MAX_SLIPPAGE_BPS. Raises ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"{what}: give the basis points as a decimal string, e.g. \"10\" "
                         f"(got {value!r})")
    try:
        bps = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a decimal number") from None
    if not bps.is_finite() or bps < 0 or bps > MAX_SLIPPAGE_BPS:
        raise ValueError(f"{what}: {value!r} is outside 0 to {MAX_SLIPPAGE_BPS} basis points")
    if bps != bps.quantize(BPS_PLACES):
        raise ValueError(f"{what}: {value!r} has more than two decimals")
    return bps


def overrides_parse(value: Any, *, known_markets: Iterable[str]) -> dict[str, Decimal]:
    """``{"BTC-IRR": "15", …}`` → ``{"BTC-IRR": Decimal("15")}``, strictly:
    an object whose keys are market codes as the app names them (``BASE-QUOTE``,
    upper case, a market that exists) and whose values are ``bps_parse``'s.
    Raises ValueError listing every problem."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise ValueError('give an object of market → basis points, e.g. {"BTC-IRR": "15"}')
    known = set(known_markets)
    problems: list[str] = []
    parsed: dict[str, Decimal] = {}
    for code, bps in value.items():
        try:
            base, quote = split_market(str(code))
        except ValueError:
            problems.append(f"{code!r} is not a market code like BTC-IRR")
            continue
        if f"{base}-{quote}" != code:
            problems.append(f"{code!r}: write it {base}-{quote}")
            continue
        if code not in known:
            problems.append(f"{code!r} is not a market of this app"
                            + (f" (markets: {', '.join(sorted(known))})" if known else ""))
            continue
        try:
            parsed[code] = bps_parse(bps, what=code)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return parsed
