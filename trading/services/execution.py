"""Execution of an opportunity: exactly once, both legs at once, and
nothing sent that is not first written down.

1. Claim (``opportunities.opportunity_claim``): a conditional update
   ``detected → executing``. Only one worker wins, however often the task
   is delivered.
2. In the same transaction: re-check the kill switch and risk limits
   (refused: ``executing → rejected``), and write both Orders as
   ``pending_submit`` with their client order ids. Commit. (A crash from
   here on leaves orders that recovery looks up by client order id; the
   task's redelivery finds the claim taken.)
3. Send both legs concurrently (``orders.order_submit``). Every answer goes
   through the state machine: accepted → its state; refused → ``rejected``;
   no answer → ``unknown`` (never re-sent; sync and recovery resolve it by
   client order id). The accepted answers are stored once both legs are back.
4. Cancel what rests on a book, then let the settlement policy unwind a
   one-sided fill and close the opportunity.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from arbsite.formatting import milliseconds
from exchanges.conformance.gate import conformance_blocker
from exchanges.errors import ExchangeError, NotFoundError
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import Side
from trading import killpoints
from trading.models import Opportunity, Order, RiskSettings
from trading.services.budgets import opportunity_capital_blocker
from trading.services.fills import fills_fetch_missing
from trading.services.opportunities import opportunity_claim, opportunity_refuse
from trading.services.orders import (
    new_client_order_id,
    order_apply_report,
    order_submit,
    orders_write,
)
from trading.services.risk import risk_check
from trading.services.settlement import opportunity_reconcile

logger = logging.getLogger(__name__)

SOURCE = "executor"
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="legs")


@dataclass(frozen=True)
class ExecutionResult:
    opportunity_id: int
    outcome: str  # claimed-elsewhere | refused | sent
    detail: str = ""


def _claim_and_write_orders(opportunity_id: int) -> tuple[list[Order], str | None] | None:
    """Claim the opportunity and write its two legs, or say why not.

    Returns None when another worker already claimed it.
    """
    with transaction.atomic():
        if not opportunity_claim(opportunity_id=opportunity_id, source=SOURCE):
            return None
        opportunity = (Opportunity.objects
                       .select_related("market", "buy_exchange", "sell_exchange")
                       # Not decrypted here; the adapter registry has them.
                       .defer("buy_exchange__api_key", "buy_exchange__api_secret",
                              "sell_exchange__api_key", "sell_exchange__api_secret")
                       .get(pk=opportunity_id))
        # The risk settings and today's P&L, read from the database for this
        # decision (the kill switch an operator just set applies), once.
        risk = risk_check(quote_assets=[opportunity.quote_asset])
        blocker = risk.blocked.get(opportunity.quote_asset)
        if blocker is None:
            blocker = _execution_blocker(opportunity, risk.settings)
        if blocker is not None:
            opportunity_refuse(opportunity_id=opportunity_id, reason=blocker, source=SOURCE)
            return [], blocker
        killpoints.reached("before_orders_written")
        legs = orders_write(orders=[
            Order(
                opportunity=opportunity, exchange=exchange, market=opportunity.market,
                client_order_id=new_client_order_id(exchange=exchange, purpose=Order.Purpose.ENTRY),
                purpose=Order.Purpose.ENTRY,
                side=side.value, order_type=Order.Type.LIMIT, quantity=opportunity.quantity,
                price=price,
            )
            for side, exchange, price in (
                (Side.BUY, opportunity.buy_exchange, opportunity.buy_price),
                (Side.SELL, opportunity.sell_exchange, opportunity.sell_price),
            )
        ], source=SOURCE, payload={"opportunity": opportunity.pk})
    return legs, None


def _execution_blocker(opportunity: Opportunity, settings_row: RiskSettings) -> str | None:
    """Checks that may have changed since detection."""
    for exchange in (opportunity.buy_exchange, opportunity.sell_exchange):
        if not (exchange.enabled and exchange.trading_enabled):
            return f"{exchange.name} is paused"
        if (gate := conformance_blocker(exchange)) is not None:
            return gate
    if not opportunity.market.enabled:
        return f"market {opportunity.market.code} is disabled"
    # Both legs or neither: a leg that would wait for an order slot (the
    # exchange's rate limit, or a back-off it asked for) beyond what a send
    # waits is refused here, before the other leg goes alone.
    for exchange in (opportunity.buy_exchange, opportunity.sell_exchange):
        adapter = get_adapter(exchange)
        wait = adapter.place_wait()
        if wait > adapter.config.rate_limit_max_wait:
            return (f"{exchange.name} admits no order for {wait:.1f} s (rate limit or "
                    "back-off): neither leg sent")
    age = timezone.now() - opportunity.created_at
    max_age = timedelta(milliseconds=settings_row.max_book_age_ms)
    if age > max_age:
        return (f"too late: detected {milliseconds(age.total_seconds() * 1000)} ago "
                f"(maximum book age {milliseconds(settings_row.max_book_age_ms)})")
    return opportunity_capital_blocker(opportunity)


def _cancel_resting(order: Order) -> None:
    """An arbitrage leg left resting on a book is exposure: cancel the rest."""
    order.refresh_from_db()
    if order.status not in (OrderState.OPEN, OrderState.PARTIALLY_FILLED):
        return
    adapter = get_adapter(order.exchange)
    try:
        adapter.cancel_order(exchange_order_id=order.exchange_order_id,
                             client_order_id=order.client_order_id, market=order.market.code)
        report = adapter.get_order(exchange_order_id=order.exchange_order_id,
                                   client_order_id=order.client_order_id,
                                   market=order.market.code)
    except NotFoundError:
        logger.warning("order %s: not found while cancelling its rest", order.client_order_id)
        return
    except ExchangeError as exc:
        logger.warning("order %s: cancel of its rest failed, sync retries: %s",
                       order.client_order_id, exc)
        return
    order_apply_report(order=order, report=report, source=SOURCE)


def opportunity_execute(*, opportunity_id: int) -> ExecutionResult:
    """Execute one opportunity exactly once (see the module docstring)."""
    started = time.perf_counter()
    written = _claim_and_write_orders(opportunity_id)
    if written is None:
        logger.info("opportunity %s already claimed; nothing to do", opportunity_id)
        return ExecutionResult(opportunity_id, "claimed-elsewhere")
    legs, blocker = written
    if blocker is not None:
        return ExecutionResult(opportunity_id, "refused", blocker)
    killpoints.reached("after_orders_written")

    futures = [_pool.submit(order_submit, order=leg, source=SOURCE) for leg in legs]
    reports = [future.result() for future in futures]
    sent_ms = (time.perf_counter() - started) * 1000
    # Both legs are on the exchanges and their answers not yet stored: a crash
    # here leaves pending_submit orders that recovery adopts by client order id.
    killpoints.reached("after_both_sent_before_stored")
    for leg, report in zip(legs, reports, strict=True):
        if report is not None:
            order_apply_report(order=leg, report=report, source=SOURCE)
    killpoints.reached("after_both_sent")

    for leg in legs:
        _cancel_resting(leg)
        leg.refresh_from_db()
        fills_fetch_missing(adapter=get_adapter(leg.exchange), orders=[leg])
    result = opportunity_reconcile(opportunity_id=opportunity_id, source=SOURCE)
    logger.info("opportunity %s: both legs answered in %.1f ms; %s (%s)", opportunity_id,
                sent_ms, result.action, result.status)
    return ExecutionResult(opportunity_id, "sent", result.action)
