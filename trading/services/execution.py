"""Execution of an opportunity: exactly once, both legs at once, and
nothing sent that is not first written down.

1. Claim: a conditional update ``detected → executing``. Only one worker
   wins, however often the task is delivered.
2. In the same transaction: re-check the kill switch and risk limits, and
   write both Orders as ``pending_submit`` with their client order ids.
   Commit. (A crash from here on leaves orders that recovery looks up by
   client order id; the task's redelivery finds the claim taken.)
3. Send both legs concurrently. Every answer goes through the state machine:
   accepted → its state; refused → ``rejected``; no answer → ``unknown``
   (never re-sent; sync and recovery resolve it by client order id). The
   accepted answers are stored once both legs are back.
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

from exchanges.errors import AmbiguousOrderError, ExchangeError, NotFoundError, RejectedError
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import ExchangeOrder, OrderRequest, OrderType, Side
from trading.models import Opportunity, OpportunityStatus, Order, RiskSettings
from trading.services import killpoints
from trading.services.budgets import opportunity_capital_blocker
from trading.services.fills import fills_fetch_missing
from trading.services.orders import order_transition, orders_record_created
from trading.services.risk import risk_read, trading_blockers
from trading.services.settlement import (
    new_client_order_id,
    opportunity_reconcile,
    order_apply_report,
)

logger = logging.getLogger(__name__)

SOURCE = "executor"
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="legs")


@dataclass(frozen=True)
class ExecutionResult:
    opportunity_id: int
    outcome: str  # claimed-elsewhere | refused | sent
    detail: str = ""


def _refuse(opportunity_id: int, reason: str) -> ExecutionResult:
    Opportunity.objects.filter(pk=opportunity_id).update(
        status=OpportunityStatus.REJECTED, reason=reason, closed_at=timezone.now()
    )
    logger.info("opportunity %s refused at execution: %s", opportunity_id, reason)
    return ExecutionResult(opportunity_id, "refused", reason)


def _claim_and_write_orders(opportunity_id: int) -> tuple[list[Order], str | None] | None:
    """Claim the opportunity and write its two legs, or say why not.

    Returns None when another worker already claimed it.
    """
    with transaction.atomic():
        claimed = Opportunity.objects.filter(
            pk=opportunity_id, status=OpportunityStatus.DETECTED
        ).update(status=OpportunityStatus.EXECUTING, executed_at=timezone.now())
        if not claimed:
            return None
        opportunity = (Opportunity.objects
                       .select_related("market", "buy_exchange", "sell_exchange")
                       # Not decrypted here; the adapter registry has them.
                       .defer("buy_exchange__api_key", "buy_exchange__api_secret",
                              "sell_exchange__api_key", "sell_exchange__api_secret")
                       .get(pk=opportunity_id))
        # The risk settings and today's P&L, read from the database for this
        # decision (the kill switch an operator just set applies), once.
        quote = opportunity.quote_asset
        settings_row, pnl = risk_read(quote_assets=[quote])
        blocker = trading_blockers(quote_assets=[quote], settings_row=settings_row,
                                   pnl=pnl).get(quote)
        if blocker is None:
            blocker = _execution_blocker(opportunity, settings_row)
        if blocker is not None:
            return [], blocker
        killpoints.reached("before_orders_written")
        legs = Order.objects.bulk_create([
            Order(
                opportunity=opportunity, exchange=exchange, market=opportunity.market,
                client_order_id=new_client_order_id(), purpose=Order.Purpose.ENTRY,
                side=side.value, order_type=Order.Type.LIMIT, quantity=opportunity.quantity,
                price=price,
            )
            for side, exchange, price in (
                (Side.BUY, opportunity.buy_exchange, opportunity.buy_price),
                (Side.SELL, opportunity.sell_exchange, opportunity.sell_price),
            )
        ])
        orders_record_created(orders=legs, source=SOURCE,
                              payload={"opportunity": opportunity.pk})
    return legs, None


def _execution_blocker(opportunity: Opportunity, settings_row: RiskSettings) -> str | None:
    """Checks that may have changed since detection."""
    for exchange in (opportunity.buy_exchange, opportunity.sell_exchange):
        if not (exchange.enabled and exchange.trading_enabled):
            return f"{exchange.name} is paused"
    if not opportunity.market.enabled:
        return f"market {opportunity.market.code} is disabled"
    age = timezone.now() - opportunity.created_at
    max_age = timedelta(milliseconds=settings_row.max_book_age_ms)
    if age > max_age:
        return f"too late: detected {age.total_seconds():.3f}s ago (max book age {max_age})"
    return opportunity_capital_blocker(opportunity)


def _send(order: Order) -> ExchangeOrder | None:
    """Send one leg. A refusal or a lost answer is recorded here at once; an
    accepted order's report is returned, to be stored once both legs are back."""
    adapter = get_adapter(order.exchange)
    request = OrderRequest(
        market=order.market.code, side=Side(order.side), type=OrderType(order.order_type),
        quantity=order.quantity, client_order_id=order.client_order_id, price=order.price,
    )
    try:
        report = adapter.place_order(request)
    except RejectedError as exc:
        order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source=SOURCE,
                         reason=str(exc), payload={"code": exc.code})
        return None
    except AmbiguousOrderError as exc:
        killpoints.reached("leg_ambiguous")
        order_transition(order_id=order.pk, to_status=OrderState.UNKNOWN, source=SOURCE,
                         reason=str(exc))
        return None
    except ExchangeError as exc:
        # Raised before anything left (breaker open, local rate limit, refused
        # connection) or an explicit refusal such as a 429: nothing was placed.
        order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source=SOURCE,
                         reason=f"not sent: {exc}", payload={"error": type(exc).__name__})
        return None
    except Exception as exc:
        # A bug or an unexpected answer after sending: the order may exist.
        logger.exception("order %s: unexpected error while placing", order.client_order_id)
        order_transition(order_id=order.pk, to_status=OrderState.UNKNOWN, source=SOURCE,
                         reason=f"unexpected {type(exc).__name__}: {exc}")
        return None
    killpoints.reached("leg_sent")
    return report


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
        return _refuse(opportunity_id, blocker)
    killpoints.reached("after_orders_written")

    futures = [_pool.submit(_send, leg) for leg in legs]
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
