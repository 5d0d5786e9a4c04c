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
4. Cancel what rests on a book (``legs.leg_rest_cancel``), then let the settlement policy unwind a
   one-sided fill and close the opportunity.

After the legs are written, nothing raises out of here: an unexpected
error on one leg (storing its answer, cancelling its rest, reading its
fills) is recorded on that leg (``orders.order_error``: flagged "needs a
human") and the other leg and the settlement carry on. A leg whose answer
could not be stored stays ``pending_submit`` with its client order id, so
sync and recovery find it; an opportunity not settled here is settled by
sync.
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
from exchanges.registry import get_adapter
from exchanges.types import Side
from trading import killpoints
from trading.models import Opportunity, Order, RiskSettings
from trading.services.budgets import opportunity_capital_blocker
from trading.services.decision_cache import decision_cache_bump_committed, decision_cache_deferred
from trading.services.fills import fills_fetch_missing
from trading.services.legs import leg_rest_cancel
from trading.services.opportunities import opportunity_claim, opportunity_refuse
from trading.services.orders import (
    new_client_order_id,
    order_apply_report,
    order_error,
    order_submit,
    orders_write,
)
from trading.services.protections import protection_blocker
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

    One transaction, its round trips few: the claim (a conditional UPDATE and
    its event), the opportunity with its market and exchanges (one SELECT),
    the risk settings with today's P&L (one SELECT), both orders (one INSERT)
    and their events (one INSERT), one COMMIT. A failure anywhere in it rolls
    all of it back. (The risk read stays fresh here, not kept like
    detection's: every settled trade changes today's P&L, so a kept read would
    rarely serve the next execution, and reading it first delayed the claim.)
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
    if (protected := protection_blocker(opportunity)) is not None:
        return protected
    return opportunity_capital_blocker(opportunity)


def opportunity_execute(*, opportunity_id: int) -> ExecutionResult:
    """Execute one opportunity exactly once (see the module docstring)."""
    started = time.perf_counter()
    # The claim's news for detection's kept reads (decision_cache) goes out
    # once both legs are sent, off their path: a claimed opportunity and its
    # pending orders hold the same pair and the same balances as the detected
    # one did, so what detection keeps stays right until then.
    with decision_cache_deferred() as changed:
        written = _claim_and_write_orders(opportunity_id)
    if written is None:
        logger.info("opportunity %s already claimed; nothing to do", opportunity_id)
        return ExecutionResult(opportunity_id, "claimed-elsewhere")
    legs, blocker = written
    if blocker is not None:
        decision_cache_bump_committed(*changed)  # refused: its pair is free again
        return ExecutionResult(opportunity_id, "refused", blocker)
    killpoints.reached("after_orders_written")

    futures = [_pool.submit(order_submit, order=leg, source=SOURCE) for leg in legs]
    reports = []
    for leg, future in zip(legs, futures, strict=True):
        try:
            reports.append(future.result())
        except Exception as exc:  # noqa: BLE001 - its record failed; it may be on the book
            _leg_failed(leg, exc, "recording its send")
            reports.append(None)
    sent_ms = (time.perf_counter() - started) * 1000
    if changed:
        decision_cache_bump_committed(*changed)
    # Both legs are on the exchanges and their answers not yet stored: a crash
    # here leaves pending_submit orders that recovery adopts by client order id.
    killpoints.reached("after_both_sent_before_stored")
    for leg, report in zip(legs, reports, strict=True):
        if report is not None:
            try:
                with transaction.atomic():
                    order_apply_report(order=leg, report=report, source=SOURCE)
            except Exception as exc:  # noqa: BLE001 - left pending_submit: sync finds it
                _leg_failed(leg, exc, "storing the exchange's answer to its send")
    killpoints.reached("after_both_sent")

    for leg in legs:
        # An arbitrage leg left resting on a book is exposure: cancel the rest
        # (the one rule, which sync and recovery apply after the window).
        try:
            leg_rest_cancel(order_id=leg.pk, source=SOURCE,
                            why="the executor's answer shows it resting")
            leg.refresh_from_db()
            fills_fetch_missing(adapter=get_adapter(leg.exchange), orders=[leg])
        except Exception as exc:  # noqa: BLE001 - sync retries both
            _leg_failed(leg, exc, "cancelling its rest or reading its fills")
    try:
        result = opportunity_reconcile(opportunity_id=opportunity_id, source=SOURCE)
    except Exception as exc:  # noqa: BLE001 - still executing: sync settles it
        logger.error("opportunity %s: not settled after sending (sync settles it): %s: %s",
                     opportunity_id, type(exc).__name__, exc, exc_info=exc)
        return ExecutionResult(opportunity_id, "sent", f"not settled: {type(exc).__name__}")
    logger.info("opportunity %s: both legs answered in %.1f ms; %s (%s)", opportunity_id,
                sent_ms, result.action, result.status)
    return ExecutionResult(opportunity_id, "sent", result.action)


def _leg_failed(leg: Order, error: Exception, doing: str) -> None:
    order_error(order=leg, source=SOURCE, doing=f"execution {doing}", error=error)
