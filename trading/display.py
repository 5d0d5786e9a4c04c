"""Trading's figures for reading: orders, fills and opportunities formatted
with their listing's rules (``arbsite.formatting`` does the formatting; this
module knows which step, tick and unit apply), exchanges named rather than
numbered, and an opportunity's decision record as tables.

Used by the admin, the control panel, the commands and the texts services
write for operators (an opportunity's reason). Reads only; nothing here is
ever parsed back: money stays ``Decimal`` in the database.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from arbsite import formatting
from arbsite.formatting import EMPTY, money, number, rate
from exchanges.models import Exchange, ExchangeMarket, Market

# Listings change rarely (the admin, setup, the conformance check); a page
# reads them once. The cache is also dropped at the start of every request.
RULES_TTL_SECONDS = 5.0
# A read this young is not repeated for a key it lacks: the key is absent
# (one page that names a market and its listing costs one read, not two).
FRESH_READ_SECONDS = 0.5


@dataclass(frozen=True)
class Rules:
    """One listing's display rules, in project units."""

    amount_step: Decimal
    price_tick: Decimal


@dataclass
class _Names:
    rules: dict[tuple[int, int], Rules]
    exchanges: dict[int, str]
    markets: dict[int, tuple[str, str]]  # id → (base, quote)
    loaded_at: float
    # Looked for since this read and absent: not read again for them (a
    # list of orders on an unlisted market costs one read, not one a row).
    absent: set[tuple[str, Any]] = field(default_factory=set)


_cache: _Names | None = None
_lock = threading.Lock()


def display_cache_clear(**_: Any) -> None:
    """Forget the listings read (connected to ``request_started``)."""
    global _cache
    _cache = None


def _names(*, missing: tuple[str, Any] | None = None) -> _Names:
    """The cached names and rules; read again when older than the TTL, or
    when ``missing`` (kind, id) is not in them (a row created since)."""
    global _cache
    cached = _cache
    if cached is not None and time.monotonic() - cached.loaded_at < RULES_TTL_SECONDS:
        if missing is None or _has(cached, missing):
            return cached
        if time.monotonic() - cached.loaded_at < FRESH_READ_SECONDS:
            cached.absent.add(missing)
            return cached
    with _lock:
        rules = {(row["exchange_id"], row["market_id"]): Rules(row["amount_step"],
                                                               row["price_tick"])
                 for row in ExchangeMarket.objects.values("exchange_id", "market_id",
                                                          "amount_step", "price_tick")}
        exchanges = dict(Exchange.objects.values_list("pk", "name"))
        markets = {pk: (base, quote)
                   for pk, base, quote in Market.objects.values_list("pk", "base", "quote")}
        _cache = _Names(rules, exchanges, markets, time.monotonic())
        if missing is not None and not _has(_cache, missing):
            _cache.absent.add(missing)
        return _cache


def _has(names: _Names, missing: tuple[str, Any]) -> bool:
    kind, key = missing
    return key in getattr(names, kind) or missing in names.absent


def listing_rules(exchange_id: int | None, market_id: int | None) -> Rules | None:
    if exchange_id is None or market_id is None:
        return None
    key = (exchange_id, market_id)
    return _names(missing=("rules", key)).rules.get(key)


def exchange_name(exchange_id: int | None) -> str:
    if exchange_id is None:
        return EMPTY
    return _names(missing=("exchanges", exchange_id)).exchanges.get(
        exchange_id, f"exchange #{exchange_id}")


def _market_assets(market_id: int) -> tuple[str, str]:
    return _names(missing=("markets", market_id)).markets.get(market_id, ("", ""))


# --- one figure -----------------------------------------------------------------

def quantity_text(value: Decimal | None, *, base: str, step: Decimal | None) -> str:
    return money(value, base, step=step)


def price_text(value: Decimal | None, *, quote: str, tick: Decimal | None) -> str:
    return money(value, quote, step=tick)


def _rules_or_none(exchange_id: int, market_id: int) -> tuple[Decimal | None, Decimal | None]:
    rules = listing_rules(exchange_id, market_id)
    return (rules.amount_step, rules.price_tick) if rules else (None, None)


# --- orders and fills -----------------------------------------------------------

def order_quantity(order, value: Decimal | None = None) -> str:
    """The order's quantity (or ``value``, another base amount of it) at its
    listing's amount step: ``0.000995 BTC``."""
    base, _ = _market_assets(order.market_id)
    step, _tick = _rules_or_none(order.exchange_id, order.market_id)
    return quantity_text(order.quantity if value is None else value, base=base, step=step)


def order_filled(order) -> str:
    return order_quantity(order, order.filled_quantity)


def order_price(order, value: Decimal | None = None) -> str:
    """The order's limit price (or ``value``, another price of it) at its
    listing's tick, in project units: ``3,527,783,820 rial``."""
    _, quote = _market_assets(order.market_id)
    _step, tick = _rules_or_none(order.exchange_id, order.market_id)
    return price_text(order.price if value is None else value, quote=quote, tick=tick)


def order_average(order) -> str:
    return order_price(order, order.average_price) if order.average_price is not None else EMPTY


def order_fee(order) -> str:
    """The fee in its own asset (the quote's, where the exchange gave none)."""
    _, quote = _market_assets(order.market_id)
    return money(order.fee, order.fee_asset or quote)


def client_id_short(client_order_id: str) -> str:
    """A client order id cut for a list: what it says (exchange and purpose,
    ``WE_``) and its random tail, which tells two orders apart (the time in
    the middle is in the list's own column): ``WE_…5T1N6ARZ``."""
    if len(client_order_id) <= 14:
        return client_order_id
    head, sep, _ = client_order_id[:4].partition("_")
    return f"{head + sep if sep else client_order_id[:4]}…{client_order_id[-8:]}"


def order_title(order) -> str:
    """``sell 0.000995 BTC on wallex at 3,527,783,820 rial``."""
    base, _ = _market_assets(order.market_id)
    step, _tick = _rules_or_none(order.exchange_id, order.market_id)
    at = f"at {order_price(order)}" if order.price is not None else "at market"
    return (f"{order.side} {money(order.quantity, base, step=step, with_unit=False)} {base} "
            f"on {exchange_name(order.exchange_id)} {at}")


def trade_price(trade) -> str:
    _, quote = _market_assets(trade.market_id)
    _step, tick = _rules_or_none(trade.exchange_id, trade.market_id)
    return price_text(trade.price, quote=quote, tick=tick)


def trade_quantity(trade) -> str:
    base, _ = _market_assets(trade.market_id)
    step, _tick = _rules_or_none(trade.exchange_id, trade.market_id)
    return quantity_text(trade.quantity, base=base, step=step)


def trade_value(trade) -> str:
    _, quote = _market_assets(trade.market_id)
    return money(trade.quote_amount, quote)


def trade_fee(trade) -> str:
    _, quote = _market_assets(trade.market_id)
    return money(trade.fee, trade.fee_asset or quote)


# --- opportunities --------------------------------------------------------------

def _opportunity_rules(opportunity) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """The coarser amount step of both listings (what detection sized to),
    and each side's tick."""
    buy = listing_rules(opportunity.buy_exchange_id, opportunity.market_id)
    sell = listing_rules(opportunity.sell_exchange_id, opportunity.market_id)
    steps = [r.amount_step for r in (buy, sell) if r]
    return (max(steps) if steps else None, buy.price_tick if buy else None,
            sell.price_tick if sell else None)


def opportunity_quantity(opportunity) -> str:
    base, _ = _market_assets(opportunity.market_id)
    step, _, _ = _opportunity_rules(opportunity)
    return quantity_text(opportunity.quantity, base=base, step=step)


def opportunity_price(opportunity, side: str, *, vwap: bool = False) -> str:
    _, quote = _market_assets(opportunity.market_id)
    _, buy_tick, sell_tick = _opportunity_rules(opportunity)
    field_name = f"{side}_{'vwap' if vwap else 'price'}"
    return price_text(getattr(opportunity, field_name), quote=quote,
                      tick=buy_tick if side == "buy" else sell_tick)


def opportunity_route(opportunity) -> str:
    """``nobitex → wallex``: where it buys and where it sells."""
    return (f"{exchange_name(opportunity.buy_exchange_id)} → "
            f"{exchange_name(opportunity.sell_exchange_id)}")


def opportunity_expected(opportunity) -> str:
    """``795,881 rial (0.81%)``: the expected profit after both taker fees."""
    return (f"{money(opportunity.expected_profit, opportunity.quote_asset)} "
            f"({formatting.percent(opportunity.expected_profit_pct)})")


def opportunity_worst_case(opportunity) -> str:
    """The least the round trip makes if both legs fill: every unit at its
    limit price (the slippage buffer's worst case), after both taker fees."""
    if opportunity.worst_case_profit is None:
        return EMPTY
    return money(opportunity.worst_case_profit, opportunity.quote_asset, signed=True)


def opportunity_realized(opportunity) -> str:
    if opportunity.realized_pnl is None:
        return EMPTY
    return money(opportunity.realized_pnl, opportunity.quote_asset, signed=True)


_OLD_LEG = re.compile(r"\b(buy|sell) on (\d+):")
_LONG_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d{9,}(?![\w.])")


def reason_readable(text: str) -> str:
    """An opportunity's (or order's) reason as an operator reads it. Reasons
    written before exchanges were named ("sell on 3: cancelled") get their
    exchange's name; 18-decimal figures lose their trailing zeros and gain
    separators. New reasons are already written readable (``leg_outcome``)."""
    if not text:
        return ""
    text = _OLD_LEG.sub(lambda m: f"{m.group(1)} on {exchange_name(int(m.group(2)))}:", text)

    def tidy(match: re.Match[str]) -> str:
        try:
            return number(Decimal(match.group(0)))
        except InvalidOperation:
            return match.group(0)

    return _LONG_DECIMAL.sub(tidy, text)


def leg_outcome(order, *, rested_ms: float | None) -> str:
    """What became of an entry leg that did not fill, for the opportunity's
    reason: ``sell on wallex: cancelled, not filled at 3,527,783,820 rial
    within 120 ms``; ``buy on invex: rejected: insufficient balance``."""
    head = f"{order.side} on {exchange_name(order.exchange_id)}: {order.get_status_display()}"
    if order.status == "rejected":
        return f"{head}: {order.status_reason}" if order.status_reason else head
    if order.filled_quantity:
        text = f"{head} after {order_filled(order)} of {order_quantity(order)} filled"
    else:
        text = f"{head}, not filled"
    if order.price is not None:
        text += f" at {order_price(order)}"
    if rested_ms is not None:
        text += f" within {formatting.milliseconds(rested_ms)}"
    if order.status_reason:
        text += f" ({order.status_reason})"
    return text


# --- an opportunity's decision, as tables ----------------------------------------

CAP_MEANINGS = {
    "balance_quote": "what the {quote} available on {buy} buys (with its fee)",
    "balance_base": "the {base} available on {sell} to sell",
    "max_order_value_buy": "the maximum order value per leg, at the buy limit",
    "max_order_value_sell": "the maximum order value per leg, at the sell limit",
    "exposure": "the room left under the {base} exposure limit",
}


@dataclass
class LevelRow:
    number: int
    price: str
    amount: str
    value: str


@dataclass
class SideTable:
    title: str
    levels: list[LevelRow]
    total_amount: str
    total_value: str
    best: str


@dataclass
class CapRow:
    name: str
    meaning: str
    allows: str
    applied: bool
    binding: bool
    note: str = ""


@dataclass
class Decision:
    sides: list[SideTable]
    caps: list[CapRow]
    checks: list[tuple[str, str]]
    outbid: list[tuple[str, str, str]]
    raw: str
    formula: str = ""
    problems: list[str] = field(default_factory=list)


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _side_table(title: str, levels: list, *, base: str, quote: str, step: Decimal | None,
                tick: Decimal | None, best: Any) -> SideTable:
    rows: list[LevelRow] = []
    total_amount = total_value = Decimal(0)
    for i, level in enumerate(levels or [], start=1):
        try:
            price, amount = Decimal(str(level[0])), Decimal(str(level[1]))
        except (InvalidOperation, ValueError, IndexError, TypeError):
            continue
        total_amount += amount
        total_value += price * amount
        rows.append(LevelRow(i, price_text(price, quote=quote, tick=tick),
                             quantity_text(amount, base=base, step=step),
                             money(price * amount, quote)))
    return SideTable(title, rows, quantity_text(total_amount, base=base, step=step),
                     money(total_value, quote), price_text(_dec(best), quote=quote, tick=tick))


def opportunity_decision(opportunity) -> Decision | None:
    """The decision record (``Opportunity.details``) as an operator reads it:
    the book levels each leg takes, the caps on its size and which one bound
    it, and the checks it passed. None when the row has no record."""
    details = opportunity.details or {}
    if not details:
        return None
    base, quote = _market_assets(opportunity.market_id)
    buy_name = exchange_name(opportunity.buy_exchange_id)
    sell_name = exchange_name(opportunity.sell_exchange_id)
    step, buy_tick, sell_tick = _opportunity_rules(opportunity)
    step = _dec(details.get("amount_step")) or step
    sides = [
        _side_table(f"Buy on {buy_name}: asks taken", details.get("buy_levels", []),
                    base=base, quote=quote, step=step, tick=buy_tick,
                    best=details.get("best_ask")),
        _side_table(f"Sell on {sell_name}: bids taken", details.get("sell_levels", []),
                    base=base, quote=quote, step=step, tick=sell_tick,
                    best=details.get("best_bid")),
    ]

    def qty(value: Any) -> str:
        return quantity_text(_dec(value), base=base, step=step)

    caps: list[CapRow] = []
    uncapped = details.get("uncapped") or {}
    binding = details.get("binding_cap")
    applied = set(details.get("caps_applied") or [])
    if uncapped:
        levels = (f"{uncapped.get('ask_levels', '?')} ask and {uncapped.get('bid_levels', '?')} "
                  "bid levels")
        profit = money(_dec(uncapped.get("profit")), quote)
        caps.append(CapRow("books", "the most profitable size both books allow, after fees "
                                    f"({levels}; profit {profit})",
                           qty(uncapped.get("quantity")), applied=False,
                           binding=binding is None))
    balances = details.get("balances") or {}
    for name, value in (details.get("caps") or {}).items():
        meaning = CAP_MEANINGS.get(name, name.replace("_", " ")).format(
            quote=formatting.unit(quote), base=base, buy=buy_name, sell=sell_name)
        note = ""
        if name in ("balance_quote", "balance_base") and balances.get(
                "buy" if name == "balance_quote" else "sell"):
            b = balances["buy" if name == "balance_quote" else "sell"]
            asset = b.get("asset", quote if name == "balance_quote" else base)
            note = (f"available {money(_dec(b.get('available')), asset)}: "
                    f"{money(_dec(b.get('cached')), asset)} when read at "
                    f"{formatting.moment(b.get('fetched_at'), date=False)}, less what was "
                    "committed since")
        elif name.startswith("max_order_value") and details.get("max_order_value"):
            note = f"limit {money(_dec(details['max_order_value']), quote)}"
        elif name == "exposure" and details.get("exposure_room"):
            note = f"room {qty(details['exposure_room'])}"
        caps.append(CapRow(name.replace("_", " "), meaning, qty(value),
                           applied=name in applied, binding=name == binding, note=note))
    caps.append(CapRow("amount step", f"rounded down to the amount step {qty(step)}",
                       opportunity_quantity(opportunity), applied=False, binding=False,
                       note="the size traded"))

    checks: list[tuple[str, str]] = []
    profit_min = details.get("min_profit") or {}
    checks.append(("Expected profit, after both taker fees",
                   f"{opportunity_expected(opportunity)}; minimum "
                   f"{formatting.percent(_dec(profit_min.get('pct')))} and "
                   f"{money(_dec(profit_min.get('abs')), quote)}"))
    slippage = details.get("slippage") or {}
    if slippage:
        checks.append(("Slippage buffer", _slippage_text(slippage, quote=quote,
                                                         buy_tick=buy_tick, sell_tick=sell_tick)))
        checks.append(("Worst case, both legs at their limits",
                       f"{money(_dec(slippage.get('worst_profit')), quote, signed=True)} "
                       f"({formatting.percent(_dec(slippage.get('worst_profit_pct')))})"))
    checks.append(("Taker fees", f"buy {rate(opportunity.buy_fee_rate)} on {buy_name}, "
                                 f"sell {rate(opportunity.sell_fee_rate)} on {sell_name}"))
    if details.get("buy_cost"):
        checks.append(("Buy cost, fee included", money(_dec(details["buy_cost"]), quote)))
    minimum = details.get("min_order_value") or {}
    if minimum:
        checks.append(("Minimum order value", f"buy {money(_dec(minimum.get('buy')), quote)}, "
                                              f"sell {money(_dec(minimum.get('sell')), quote)}"))
    fetched = details.get("books_fetched_at") or {}
    if fetched:
        checks.append(("Books read", (
            f"{buy_name} {formatting.moment(fetched.get('buy'), date=False, millis=True)} "
            f"({formatting.milliseconds(opportunity.buy_book_age_ms)} old), "
            f"{sell_name} {formatting.moment(fetched.get('sell'), date=False, millis=True)} "
            f"({formatting.milliseconds(opportunity.sell_book_age_ms)} old); maximum age "
            f"{formatting.milliseconds(details.get('max_book_age_ms'))}")))
    outbid = [(f"{o.get('buy', '?')} → {o.get('sell', '?')}", qty(o.get("quantity")),
               money(_dec(o.get("expected_profit")), quote))
              for o in details.get("outbid") or []]
    return Decision(sides=sides, caps=caps, checks=checks, outbid=outbid,
                    raw=json.dumps(details, indent=2, sort_keys=True),
                    formula=details.get("formula", ""))



SLIPPAGE_BOUNDS = {
    "configured": "as configured",
    "min_profit_abs": "reduced to keep the worst case at the minimum profit",
    "min_profit_pct": "reduced to keep the worst case at the minimum profit percentage",
    "balance_quote": "reduced to what the quote available on the buyer locks",
    "max_order_value_buy": "reduced to the maximum order value at the buy limit",
    "min_order_value_sell": "reduced to the sell listing's minimum order value",
}


def _slippage_text(record: dict, *, quote: str, buy_tick: Decimal | None,
                   sell_tick: Decimal | None) -> str:
    """``10 bps (default 10 bps, as configured): buy limit 1,011 rial (walked
    1,010), sell limit 1,019 rial (walked 1,020)``."""
    configured = formatting.number(_dec(record.get("configured_bps")))
    source = "this market's override" if record.get("source") == "market" else "default"
    binding = record.get("binding", "")
    why = SLIPPAGE_BOUNDS.get(binding, binding.replace("_", " "))
    bounds = record.get("bounds_bps") or {}
    allowed = ", ".join(f"{name.replace('_', ' ')} {formatting.number(_dec(v))}"
                        for name, v in bounds.items() if name != "configured")

    def price(name: str, tick: Decimal | None) -> str:
        return price_text(_dec(record.get(name)), quote=quote, tick=tick)

    text = (f"{formatting.number(_dec(record.get('bps')))} bps ({source} {configured} bps, "
            f"{why}): buy limit {price('buy_limit', buy_tick)} (walked "
            f"{price('buy_level', buy_tick)}), sell limit {price('sell_limit', sell_tick)} "
            f"(walked {price('sell_level', sell_tick)})")
    return f"{text}; each bound allows (bps): {allowed}" if allowed else text


# --- detection's rejections ------------------------------------------------------

_QUANTITY_FIGURES = ("quantity", "capped", "cap_value", "amount_step")


def _figure(name: str, value: Any, *, base: str, quote: str) -> str:
    amount = _dec(value) if isinstance(value, str | int | float | Decimal) else None
    if amount is None or isinstance(value, bool):
        return str(value).replace("->", " → ")
    if name.endswith("_ms"):
        return formatting.milliseconds(amount)
    if name.endswith("pct"):
        return formatting.percent(amount)
    if any(word in name for word in _QUANTITY_FIGURES):
        return f"{number(amount)} {base}".strip()
    return money(amount, quote) if quote else number(amount)


def _figure_label(name: str) -> str:
    """``buy_age_ms`` → ``buy age`` (the unit goes with the figure)."""
    for suffix in ("_ms", "_pct"):
        if name.endswith(suffix) and name != suffix:
            name = name[: -len(suffix)]
    return name.replace("_", " ")


def rejection_figures(example: dict[str, Any]) -> str:
    """The figures of one of detection's rejections as an operator reads
    them: ``expected profit 330,400 rial; best profit 402,457 rial; best pair
    wallex → invex``."""
    base, _, quote = str(example.get("market") or "").partition("-")
    parts = [f"{_figure_label(name)} {_figure(name, value, base=base, quote=quote)}"
             for name, value in (example.get("figures") or {}).items()]
    parts += [f"{asset}: {why}" for asset, why in (example.get("blocked") or {}).items()]
    return "; ".join(parts)
