"""What becomes of an opportunity once its legs have answered.

``opportunity_reconcile`` is the one policy, run by execution right after
sending, by order sync and by recovery: when every order of the opportunity
is final and its fills are recorded, a one-sided fill is unwound (bounded by
the risk settings' maximum unwind loss) and, when nothing is left open, the
opportunity is closed with its realized P&L computed from its Trades.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import Sum

from arbsite.formatting import money, number
from arbsite.locks import SETTLE_OPPORTUNITY, redis_lock
from exchanges.models import ExchangeMarket
from exchanges.registry import get_adapter
from exchanges.states import TERMINAL_STATES, OrderState
from exchanges.types import OrderRequest, OrderType, Side
from trading import display
from trading.alerts.hooks import unwind_closed
from trading.models import Opportunity, OpportunityStatus, Order, OrderEvent, Trade
from trading.pnl import realized_pnl
from trading.services.fills import fills_fetch_missing, fills_missing
from trading.services.opportunities import opportunity_settle
from trading.services.orders import (
    new_client_order_id,
    order_apply_report,
    order_submit,
    orders_write,
)
from trading.services.protections import protection_after_close
from trading.services.risk import risk_settings

logger = logging.getLogger(__name__)

ZERO = Decimal("0")


@dataclass(frozen=True)
class ReconcileResult:
    opportunity_id: int
    status: str
    action: str  # waiting | unwinding | closed | nothing


def _unwind_request(opportunity: Opportunity, net_base: Decimal) -> tuple[int, OrderRequest] | None:
    """The bounded order that brings the net base position back to zero.

    Bought more than sold: sell the excess back where it was bought.
    Sold more than bought: buy it back where it was sold. The limit price is
    the entry's average price moved by at most ``max_unwind_loss_pct``.
    """
    settings_row = risk_settings()
    loss = settings_row.max_unwind_loss_pct / Decimal(100)
    if net_base > 0:
        exchange, side, entry_side = opportunity.buy_exchange, Side.SELL, "buy"
    else:
        exchange, side, entry_side = opportunity.sell_exchange, Side.BUY, "sell"
    exchange_id = exchange.pk
    listing = ExchangeMarket.objects.get(exchange_id=exchange_id, market_id=opportunity.market_id)
    quantity = abs(net_base).quantize(listing.amount_step, rounding=ROUND_DOWN)
    if quantity <= 0:
        return None
    entry = (Trade.objects.filter(order__opportunity=opportunity, order__purpose="entry",
                                  side=entry_side)
             .aggregate(value=Sum("quote_amount"), qty=Sum("quantity")))
    if not entry["qty"]:
        return None
    average = entry["value"] / entry["qty"]
    price = average * (1 - loss) if side == Side.SELL else average * (1 + loss)
    return exchange_id, OrderRequest(
        market=opportunity.market.code, side=side, type=OrderType.LIMIT, quantity=quantity,
        client_order_id=new_client_order_id(exchange=exchange, purpose=Order.Purpose.UNWIND),
        price=price,
    )


def net_base_position(opportunity: Opportunity) -> Decimal:
    """Base bought minus base sold over all orders of the opportunity (by
    their recorded fills), before fees."""
    rows = (Trade.objects.filter(order__opportunity=opportunity)
            .values("side").annotate(qty=Sum("quantity")))
    by_side = {row["side"]: row["qty"] or ZERO for row in rows}
    return by_side.get("buy", ZERO) - by_side.get("sell", ZERO)


def _place_unwind(opportunity: Opportunity, exchange_id: int, request: OrderRequest,
                  source: str) -> Order:
    """Write the unwind order, send it and apply its answer at once."""
    [order] = orders_write(orders=[Order(
        opportunity=opportunity, exchange_id=exchange_id, market=opportunity.market,
        client_order_id=request.client_order_id, purpose=Order.Purpose.UNWIND,
        side=request.side.value, order_type=Order.Type.LIMIT, quantity=request.quantity,
        price=request.price,
    )], source=source, payload={"reason": "unwind one-sided fill"})
    report = order_submit(order=order, source=source)
    if report is not None:
        order = order_apply_report(order=order, report=report, source=source)
        fills_fetch_missing(adapter=get_adapter(order.exchange), orders=[order])
    order.refresh_from_db()
    return order


def opportunity_reconcile(*, opportunity_id: int, source: str) -> ReconcileResult:
    """Advance an executing opportunity as far as its orders allow.

    One settlement of an opportunity at a time across processes
    (``arbsite.locks.SETTLE_OPPORTUNITY``): execution, sync and recovery may
    meet the same one, and only one may see its legs final and place the
    unwind. A caller that finds it held gets ``waiting`` (the next sync
    comes)."""
    with redis_lock(SETTLE_OPPORTUNITY, scope=str(opportunity_id)) as held:
        if not held:
            status = (Opportunity.objects.filter(pk=opportunity_id)
                      .values_list("status", flat=True).first())
            return ReconcileResult(opportunity_id, status or "", "waiting")
        return _reconcile(opportunity_id=opportunity_id, source=source, allow_unwind=True)


def _reconcile(*, opportunity_id: int, source: str, allow_unwind: bool) -> ReconcileResult:
    opportunity = (Opportunity.objects.select_related("market", "buy_exchange", "sell_exchange")
                   .defer("buy_exchange__api_key", "buy_exchange__api_secret",
                          "sell_exchange__api_key", "sell_exchange__api_secret")
                   .get(pk=opportunity_id))
    if opportunity.status != OpportunityStatus.EXECUTING:
        return ReconcileResult(opportunity.pk, opportunity.status, "nothing")
    orders = list(opportunity.orders.all())
    if any(o.status not in TERMINAL_STATES for o in orders) or any(
        fills_missing(o) for o in orders
    ):
        return ReconcileResult(opportunity.pk, opportunity.status, "waiting")

    net = net_base_position(opportunity)
    unwinds = [o for o in orders if o.purpose == Order.Purpose.UNWIND]
    if net != 0:
        plan = _unwind_request(opportunity, net)
        if plan is not None and allow_unwind and len(unwinds) < 3:
            exchange_id, request = plan
            logger.warning("opportunity %s: net %s %s after its legs; unwinding on %s",
                           opportunity.pk, number(net), opportunity.market.base,
                           display.exchange_name(exchange_id))
            order = _place_unwind(opportunity, exchange_id, request, source)
            if order.status not in TERMINAL_STATES or fills_missing(order):
                return ReconcileResult(opportunity.pk, opportunity.status, "unwinding")
            return _reconcile(opportunity_id=opportunity_id, source=source,
                              allow_unwind=False)
        if plan is not None and not allow_unwind:
            return ReconcileResult(opportunity.pk, opportunity.status, "waiting")
    return _close(opportunity, orders, net, source)


def _rested_ms(order: Order) -> float | None:
    """How long the order was given: from its writing (just before its send)
    to the event that made it final; None when that event is not found."""
    final_at = (OrderEvent.objects.filter(order=order, to_status=order.status)
                .order_by("created_at", "id").values_list("created_at", flat=True).first())
    if final_at is None or order.created_at is None:
        return None
    return max((final_at - order.created_at).total_seconds() * 1000, 0.0)


def _close(opportunity: Opportunity, orders: list[Order], net: Decimal,
           source: str) -> ReconcileResult:
    entries = [o for o in orders if o.purpose == Order.Purpose.ENTRY]
    filled = [o.filled_quantity for o in entries]
    unwound = any(o.purpose == Order.Purpose.UNWIND and o.filled_quantity > 0 for o in orders)
    if all(f == 0 for f in filled) and not unwound:
        status = OpportunityStatus.FAILED
    elif unwound:
        status = OpportunityStatus.UNWOUND
    elif all(o.status == OrderState.FILLED for o in entries):
        status = OpportunityStatus.DONE
    else:
        status = OpportunityStatus.PARTIAL
    # Written for an operator (trading/display.py): "sell on wallex: cancelled,
    # not filled at 3,527,783,820 rial within 120 ms".
    display.display_cache_clear()  # names and rules as they are now
    reasons = [display.leg_outcome(o, rested_ms=_rested_ms(o))
               for o in sorted(entries, key=lambda o: o.side) if o.status != OrderState.FILLED]
    if net != 0:
        reasons.append(f"residual {money(net, opportunity.market.base)} could not be "
                       "unwound: needs a human")
    pnl = realized_pnl(opportunity)
    with transaction.atomic():  # the unwind alert is written with the settlement
        settled = opportunity_settle(opportunity_id=opportunity.pk, status=status,
                                     realized_pnl=pnl, reason="; ".join(reasons), source=source)
        unwind_closed(opportunity=opportunity, status=status, realized_pnl=pnl, closed=settled)
        if settled:  # N unwinds or failures of this direction pause it (protections.py)
            protection_after_close(opportunity=opportunity, status=status)
    if settled:
        logger.info("opportunity %s closed %s: realized %s (after fees)", opportunity.pk,
                    status, money(pnl, opportunity.quote_asset, signed=True))
        from trading.services.risk import daily_loss_enforce

        daily_loss_enforce()
    opportunity.refresh_from_db()
    return ReconcileResult(opportunity.pk, opportunity.status, "closed")
