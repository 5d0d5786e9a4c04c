"""The one order a conformance check may place, and the promise that it is
never left open.

``test_order_plan`` picks a listing the account can pay for and an order
of the minimum size at a price that cannot fill: 15% beyond the touch (a
buy below the best bid, a sell above the best ask), inside the band the
exchanges allow (Nobitex refuses prices more than 30% from the market
[doc: market-trade.md, ``BadPrice``]).

``test_order_run`` places it, reads it back by both ids, finds it in the
open orders, cancels it and reads it again. Whatever happens in between
(an error, a fault, Ctrl-C), its ``finally`` makes sure the order is
closed: it asks the exchange what became of it and cancels it, again and
again for up to ``CLEANUP_PATIENCE`` seconds; if it still cannot confirm
the order closed, the report says so with the order's ids
(``ConformanceReport.left_open``) and the log carries an error, so an
operator cancels it by hand.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from exchanges.client_ids import new_client_order_id
from exchanges.errors import ExchangeError, NotFoundError
from exchanges.interface import ExchangeAdapter
from exchanges.markets import MarketSpec, decimal_str
from exchanges.states import TERMINAL_STATES, OrderState
from exchanges.types import (
    Balance,
    ExchangeOrder,
    MarketRules,
    OrderBook,
    OrderRef,
    OrderRequest,
    OrderType,
    Side,
)

from .context import Probe
from .report import TestOrder, Verdict

logger = logging.getLogger(__name__)

DISTANCE = Decimal("0.15")  # from the touch
BAND = Decimal("0.30")  # the farthest from the market any exchange accepts
SIZE_MARGIN = Decimal("0.05")  # above the minimum value, so rounding never goes below it
CLEANUP_PATIENCE = 30.0  # seconds the finally keeps trying to close the order
CANCEL_WAIT = 10.0  # seconds a cancel may take to show (Invex cancels asynchronously)


@dataclass(frozen=True)
class TestOrderPlan:
    exchange: str
    market: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal  # project units (rial for IRR)
    quote: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    minimum: Decimal

    @property
    def value(self) -> Decimal:
        return self.quantity * self.price

    def describe(self) -> str:
        touch = self.best_bid if self.side is Side.BUY else self.best_ask
        return (f"{self.side.value} {decimal_str(self.quantity)} {self.market} ({self.symbol}) "
                f"at {decimal_str(self.price)} {self.quote} (value "
                f"{decimal_str(self.value)} {self.quote}, minimum {decimal_str(self.minimum)}; "
                f"the {'best bid' if self.side is Side.BUY else 'best ask'} is "
                f"{decimal_str(touch) if touch is not None else '?'})")


def _lcm(a: Decimal, b: Decimal | None) -> Decimal:
    """The smallest step that is a multiple of both (a step of either alone may
    be refused by the other rule)."""
    if b is None or b <= 0 or a == b:
        return a
    places = max(-a.normalize().as_tuple().exponent, -b.normalize().as_tuple().exponent, 0)
    scale = Decimal(10) ** places
    return Decimal(math.lcm(int(a * scale), int(b * scale))) / scale


def _to(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


def test_order_plan(*, adapter: ExchangeAdapter, books: dict[str, OrderBook],
                    balances: dict[str, Balance], rules: dict[str, MarketRules],
                    market: str | None = None) -> TestOrderPlan | str:
    """The test order to place, or why there is none."""
    specs = [adapter.spec(market)] if market else sorted(
        adapter.markets.values(), key=lambda s: (s.quote != "IRR", s.market))
    reasons = []
    for spec in specs:
        book = books.get(spec.market)
        if book is None:
            try:
                book = books[spec.market] = adapter.get_order_book(spec.market)
            except ExchangeError as exc:
                reasons.append(f"{spec.market}: no book ({exc})")
                continue
        plan = _plan_for(adapter, spec, book, balances, rules.get(spec.symbol))
        if isinstance(plan, TestOrderPlan):
            return plan
        reasons.append(plan)
    return "no listing fits a test order: " + "; ".join(reasons)


def _plan_for(adapter: ExchangeAdapter, spec: MarketSpec, book: OrderBook,
              balances: dict[str, Balance], rule: MarketRules | None) -> TestOrderPlan | str:
    bid = book.best_bid.price if book.best_bid else None
    ask = book.best_ask.price if book.best_ask else None
    if bid is None or ask is None:
        return f"{spec.market}: the book has no bid or no ask"
    mid = (bid + ask) / 2
    step = _lcm(spec.amount_step, rule.amount_step if rule else None)
    tick = _lcm(spec.price_tick, rule.price_tick if rule else None)
    minimum = max(spec.min_order_value, (rule.min_order_value if rule else None) or Decimal(0))
    if rule and rule.min_quantity:
        minimum = max(minimum, rule.min_quantity * ask)
    wanted = minimum * (1 + SIZE_MARGIN) if minimum > 0 else step * ask
    for side in (Side.BUY, Side.SELL):
        if side is Side.BUY:
            price = _to(bid * (1 - DISTANCE), tick, ROUND_FLOOR)
        else:
            price = _to(ask * (1 + DISTANCE), tick, ROUND_CEILING)
        if price <= 0 or abs(price - mid) / mid > BAND:
            continue
        quantity = _to(wanted / price, step, ROUND_CEILING)
        plan = TestOrderPlan(adapter.name, spec.market, spec.symbol, side, quantity, price,
                             spec.quote, bid, ask, minimum)
        pays, needed = ((spec.quote, plan.value * Decimal("1.01")) if side is Side.BUY
                        else (spec.base, quantity))
        available = balances.get(pays).available if pays in balances else Decimal(0)
        if available >= needed:
            return plan
    return (f"{spec.market}: needs {decimal_str(minimum * (1 + SIZE_MARGIN))} {spec.quote} "
            f"free (or its worth of {spec.base}); the account has "
            f"{decimal_str(balances[spec.quote].available) if spec.quote in balances else 0} "
            f"{spec.quote}, "
            f"{decimal_str(balances[spec.base].available) if spec.base in balances else 0} "
            f"{spec.base}")


def test_order_run(probe: Probe, probes, plan: TestOrderPlan,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    """Place, read back, list, cancel and read again; never leave it open."""
    client_id = new_client_order_id(exchange_kind=probe.kind, purpose="test")
    request = OrderRequest(plan.market, plan.side, OrderType.LIMIT, plan.quantity, client_id,
                           plan.price)
    test = probe.report.test_order = TestOrder(
        plan.market, plan.side.value, decimal_str(plan.quantity), decimal_str(plan.price),
        client_id)

    def note_sent(used_client_id: str) -> None:
        test.client_order_id, test.sent = used_client_id, True

    point = "test order"
    try:
        probe.step(f"placing the test order: {plan.describe()}")
        point = "test order placed"
        order = probes.place(probe, request, note_sent)
        test.exchange_order_id = order.exchange_order_id
        rests = order.state is OrderState.OPEN and order.filled_quantity == 0
        probe.row(point, "accepted and resting, nothing filled", f"{order.state.value} "
                  f"({order.raw_status}), {test.ids()}", Verdict.PASS if rests else Verdict.FAIL)
        adapter = probe.adapter()

        probe.step("reading the test order back by both ids")
        point = "read back by exchange order id"
        by_id = adapter.get_order(exchange_order_id=order.exchange_order_id, market=plan.market)
        probe.row(point, "the order, open, as sent", _seen(by_id),
                  Verdict.PASS if _as_sent(by_id, order) else Verdict.FAIL)
        point = "read back by client order id"
        by_client = adapter.get_order(client_order_id=order.client_order_id, market=plan.market)
        probe.row(point, "the order, open, as sent", _seen(by_client),
                  Verdict.PASS if _as_sent(by_client, order) else Verdict.FAIL)

        probe.step("listing open orders")
        point = "listed among open orders"
        listed = [o for o in adapter.open_orders(plan.market) if _same(o, order)]
        probe.row(point, "the open orders list it", f"{len(listed)} match"
                  + (f": {_seen(listed[0])}" if listed else ""),
                  Verdict.PASS if listed and listed[0].state is OrderState.OPEN
                  else Verdict.FAIL)
        point = "what the exchange says of an open order"
        probes.observe_open(probe, order)

        probe.step("cancelling the test order")
        point = "cancelled"
        cancel = getattr(probes, "cancel", None)
        if cancel is not None:
            cancel(probe, order)
        else:
            adapter.cancel_order(exchange_order_id=order.exchange_order_id,
                                 client_order_id=order.client_order_id, market=plan.market)
        final = _until_final(adapter, order, plan.market, sleep=sleep)
        test.closed = final.state in TERMINAL_STATES
        probe.row(point, "cancelled, nothing filled", _seen(final),
                  Verdict.PASS if final.state is OrderState.CANCELLED
                  and final.filled_quantity == 0 else Verdict.FAIL)

        probe.step("reading the cancelled order again")
        if probes.closed_by_client_id:
            point = "read again by client order id"
            again = adapter.get_order(client_order_id=order.client_order_id, market=plan.market)
            probe.row(point, "cancelled", _seen(again),
                      Verdict.PASS if again.state is OrderState.CANCELLED else Verdict.FAIL)
        point = "what the exchange says of a closed order"
        probes.observe_closed(probe, order)
    except ExchangeError as exc:
        logger.warning("%s conformance: %s failed: %s", probe.exchange.name, point, exc)
        probe.row(point, "answered", f"{type(exc).__name__}: {exc}"[:300], Verdict.ERROR)
    finally:
        if test.sent and not test.closed:
            _close(probe, test, sleep=sleep)


def _seen(order: ExchangeOrder) -> str:
    return (f"{order.state.value} ({order.raw_status}) {order.side.value if order.side else '?'} "
            f"{decimal_str(order.quantity) if order.quantity is not None else '?'} at "
            f"{decimal_str(order.price) if order.price is not None else '?'}, filled "
            f"{decimal_str(order.filled_quantity)}")


def _same(a: ExchangeOrder, b: ExchangeOrder) -> bool:
    if a.exchange_order_id and b.exchange_order_id:
        return str(a.exchange_order_id) == str(b.exchange_order_id)
    return bool(a.client_order_id) and a.client_order_id == b.client_order_id


def _as_sent(seen: ExchangeOrder, sent: ExchangeOrder) -> bool:
    return (_same(seen, sent) and seen.state is OrderState.OPEN
            and seen.quantity == sent.quantity and seen.price == sent.price
            and seen.side is sent.side)


def _until_final(adapter: ExchangeAdapter, order: ExchangeOrder, market: str, *,
                 sleep: Callable[[float], None]) -> ExchangeOrder:
    """The order once the exchange shows it final (Invex cancels asynchronously)."""
    deadline = time.monotonic() + CANCEL_WAIT
    while True:
        seen = adapter.get_order(exchange_order_id=order.exchange_order_id,
                                 client_order_id=None if order.exchange_order_id
                                 else order.client_order_id, market=market)
        if seen.state in TERMINAL_STATES or time.monotonic() > deadline:
            return seen
        sleep(0.2)


def _close(probe: Probe, test: TestOrder, *, sleep: Callable[[float], None]) -> None:
    """Make sure the test order is not left open: look, cancel, look again."""
    deadline = time.monotonic() + CLEANUP_PATIENCE
    wait, last = 0.25, ""
    while True:
        adapter = probe.adapter()
        try:
            if test.exchange_order_id:
                seen = adapter.get_order(exchange_order_id=test.exchange_order_id,
                                         market=test.market)
            else:  # the place's answer was lost: find it by what it was
                seen = adapter.find_order(test.client_order_id, test.market, ref=OrderRef(
                    client_order_id=test.client_order_id, market=test.market,
                    side=Side(test.side), quantity=Decimal(test.quantity),
                    price=Decimal(test.price)))
                if seen is None:
                    test.closed = True  # the exchange says it never was
                    probe.row("test order closed", "never left open",
                              "the exchange has no such order (never placed)", Verdict.PASS)
                    return
                test.exchange_order_id = seen.exchange_order_id
            if seen.state in TERMINAL_STATES:
                test.closed = True
                probe.row("test order closed", "never left open",
                          f"{_seen(seen)} ({test.ids()})", Verdict.PASS)
                return
            adapter.cancel_order(exchange_order_id=test.exchange_order_id,
                                 client_order_id=test.client_order_id, market=test.market)
        except NotFoundError as exc:
            last = f"not found: {exc}"
        except ExchangeError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + wait > deadline:
            break
        sleep(wait)
        wait = min(wait * 2, 4.0)
    probe.report.left_open = True
    message = (f"TEST ORDER MAY BE LEFT OPEN on {probe.exchange.name}: {test.ids()}, "
               f"{test.side} {test.quantity} {test.market} at {test.price}; cancel it by hand "
               f"(last answer: {last})")
    logger.error("%s", message)
    probe.row("test order closed", "never left open", message, Verdict.FAIL)

