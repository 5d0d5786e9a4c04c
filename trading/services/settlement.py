"""What becomes of an opportunity once its legs have answered.

``opportunity_reconcile`` is the one policy, run by execution right after
sending, by order sync and by recovery: when every order of the opportunity
is final and its fills are recorded, a one-sided fill is unwound (bounded by
the risk settings' maximum unwind loss) and, when nothing is left open, the
opportunity is closed with its realized P&L computed from its Trades.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from exchanges.errors import AmbiguousOrderError, ExchangeError, RejectedError
from exchanges.models import ExchangeMarket
from exchanges.states import TERMINAL_STATES, OrderState
from exchanges.types import ExchangeOrder, OrderRequest, OrderType, Side
from trading.alerts.hooks import unwind_closed
from trading.models import Opportunity, OpportunityStatus, Order, Trade
from trading.services.fills import fills_fetch_missing, fills_missing, fills_record
from trading.services.orders import IllegalTransition, order_record_created, order_transition
from trading.services.risk import risk_settings

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
OPEN_STATUSES = (OpportunityStatus.EXECUTING,)


def new_client_order_id(prefix: str = "arb") -> str:
    """Unique and never reused, even after a database reset: a random part,
    so an old order on the exchange is never mistaken for a new one."""
    return f"{prefix}-{uuid.uuid4().hex}"[:32]


@dataclass(frozen=True)
class ReconcileResult:
    opportunity_id: int
    status: str
    action: str  # waiting | unwinding | closed | nothing


def order_apply_report(*, order: Order, report: ExchangeOrder, source: str) -> Order:
    """Map an exchange's answer about ``order`` through the state machine and
    record its fills. A stale report (status or fill going back) is logged
    and ignored: the order already knows better."""
    payload = {
        "raw_status": report.raw_status,
        "exchange_order_id": report.exchange_order_id,
        "filled_quantity": str(report.filled_quantity),
        "average_price": str(report.average_price) if report.average_price is not None else None,
    }
    try:
        result = order_transition(
            order_id=order.pk, to_status=report.state, source=source,
            filled_quantity=report.filled_quantity,
            average_price=report.average_price, fee=report.fee, fee_asset=report.fee_asset,
            exchange_order_id=report.exchange_order_id, payload=payload,
        )
        order = result.order
    except IllegalTransition as exc:
        logger.warning("stale report ignored (%s): %s", source, exc)
        order.refresh_from_db()
    if report.fills:
        fills_record(order=order, fills=report.fills)
    return order


def _unwind_request(opportunity: Opportunity, net_base: Decimal) -> tuple[int, OrderRequest] | None:
    """The bounded order that brings the net base position back to zero.

    Bought more than sold: sell the excess back where it was bought.
    Sold more than bought: buy it back where it was sold. The limit price is
    the entry's average price moved by at most ``max_unwind_loss_pct``.
    """
    settings_row = risk_settings()
    loss = settings_row.max_unwind_loss_pct / Decimal(100)
    if net_base > 0:
        exchange_id, side, entry_side = opportunity.buy_exchange_id, Side.SELL, "buy"
    else:
        exchange_id, side, entry_side = opportunity.sell_exchange_id, Side.BUY, "sell"
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
        client_order_id=new_client_order_id("unw"), price=price,
    )


def net_base_position(opportunity: Opportunity) -> Decimal:
    """Base bought minus base sold over all orders of the opportunity (by
    their recorded fills), before fees."""
    rows = (Trade.objects.filter(order__opportunity=opportunity)
            .values("side").annotate(qty=Sum("quantity")))
    by_side = {row["side"]: row["qty"] or ZERO for row in rows}
    return by_side.get("buy", ZERO) - by_side.get("sell", ZERO)


def realized_pnl(opportunity: Opportunity) -> Decimal:
    """Proceeds − costs − fees, in the quote asset. A fee paid in the base
    asset is valued at its fill's price."""
    quote, base = opportunity.market.quote, opportunity.market.base
    total = ZERO
    for trade in Trade.objects.filter(order__opportunity=opportunity):
        total += trade.quote_amount if trade.side == "sell" else -trade.quote_amount
        if trade.fee:
            if trade.fee_asset.upper() == base:
                total -= trade.fee * trade.price
            elif trade.fee_asset.upper() in (quote, ""):
                total -= trade.fee
            else:
                logger.warning("fee of trade %s in %s: neither %s nor %s; left out of P&L",
                               trade.exchange_trade_id, trade.fee_asset, base, quote)
    return total


def _place_unwind(opportunity: Opportunity, exchange_id: int, request: OrderRequest,
                  source: str) -> Order:
    from exchanges.registry import get_adapter

    with transaction.atomic():
        order = Order.objects.create(
            opportunity=opportunity, exchange_id=exchange_id, market_id=opportunity.market_id,
            client_order_id=request.client_order_id, purpose=Order.Purpose.UNWIND,
            side=request.side.value, order_type=Order.Type.LIMIT, quantity=request.quantity,
            price=request.price,
        )
        order_record_created(order=order, source=source,
                             payload={"reason": "unwind one-sided fill"})
    adapter = get_adapter(order.exchange)
    try:
        report = adapter.place_order(request)
    except RejectedError as exc:
        order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source=source,
                         reason=str(exc), payload={"code": exc.code})
    except AmbiguousOrderError as exc:
        order_transition(order_id=order.pk, to_status=OrderState.UNKNOWN, source=source,
                         reason=str(exc))
    except ExchangeError as exc:  # never sent (breaker, rate limit, refused connection)
        order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source=source,
                         reason=f"not sent: {exc}")
    else:
        order = order_apply_report(order=order, report=report, source=source)
        fills_fetch_missing(adapter=adapter, orders=[order])
    order.refresh_from_db()
    return order


def opportunity_reconcile(*, opportunity_id: int, source: str,
                          allow_unwind: bool = True) -> ReconcileResult:
    """Advance an executing opportunity as far as its orders allow."""
    opportunity = Opportunity.objects.select_related("market").get(pk=opportunity_id)
    if opportunity.status not in OPEN_STATUSES:
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
                           opportunity.pk, net, opportunity.market.base, exchange_id)
            order = _place_unwind(opportunity, exchange_id, request, source)
            if order.status not in TERMINAL_STATES or fills_missing(order):
                return ReconcileResult(opportunity.pk, opportunity.status, "unwinding")
            return opportunity_reconcile(opportunity_id=opportunity_id, source=source,
                                         allow_unwind=False)
        if plan is not None and not allow_unwind:
            return ReconcileResult(opportunity.pk, opportunity.status, "waiting")
    return _close(opportunity, orders, net)


def _close(opportunity: Opportunity, orders: list[Order], net: Decimal) -> ReconcileResult:
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
    reasons = [f"{o.side} on {o.exchange_id}: {o.status} {o.status_reason}".strip()
               for o in entries if o.status != OrderState.FILLED]
    if net != 0:
        reasons.append(f"residual {net} {opportunity.market.base} could not be unwound: "
                       "needs a human")
    pnl = realized_pnl(opportunity)
    with transaction.atomic():
        updated = Opportunity.objects.filter(
            pk=opportunity.pk, status__in=OPEN_STATUSES
        ).update(status=status, realized_pnl=pnl, closed_at=timezone.now(),
                 reason="; ".join(reasons)[:2000])
        unwind_closed(opportunity=opportunity, status=status, realized_pnl=pnl, closed=updated > 0)
    if updated:
        logger.info("opportunity %s closed %s: realized %s %s", opportunity.pk, status, pnl,
                    opportunity.quote_asset)
        from trading.services.risk import daily_loss_enforce

        daily_loss_enforce()
    opportunity.refresh_from_db()
    return ReconcileResult(opportunity.pk, opportunity.status, "closed")
