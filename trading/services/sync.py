"""Order sync: bring the orders that are not final up to date with their
exchanges, record every fill once, and settle the opportunities.

Batched: one open-orders list per exchange answers for every order still
resting; only orders that left the list are looked up one by one. The same
code serves the periodic sync and recovery (``trading.services.recovery``).

Ambiguity is respected: a timeout, a 5xx or a rate limit says nothing about
whether an order exists. Only an explicit not-found from the exchange,
repeated after a grace period, fails an order that never reached it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from exchanges.breaker import breaker_state
from exchanges.errors import ExchangeError, NotFoundError
from exchanges.interface import ExchangeAdapter
from exchanges.models import Exchange
from exchanges.registry import get_adapter
from exchanges.states import LIVE_STATES, OrderState
from exchanges.types import ExchangeOrder
from trading.models import Opportunity, OpportunityStatus, Order
from trading.services.fills import fills_fetch_missing
from trading.services.orders import IllegalTransition, order_transition
from trading.services.settlement import opportunity_reconcile, order_apply_report

logger = logging.getLogger(__name__)

# An order still pending_submit this young belongs to an executor that may be
# sending it right now: sync leaves it alone.
PENDING_GRACE = timedelta(seconds=30)
# Between the first and the confirming explicit not-found of an order.
NOT_FOUND_GRACE = timedelta(seconds=30)


@dataclass
class ExchangeSyncReport:
    exchange: str
    checked: int = 0
    updated: int = 0
    adopted: int = 0
    failed: int = 0
    fills_added: int = 0
    errors: list[str] = field(default_factory=list)
    needs_human: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class SyncReport:
    exchanges: list[ExchangeSyncReport] = field(default_factory=list)
    opportunities_closed: int = 0

    @property
    def complete(self) -> bool:
        return all(not r.skipped and not r.errors for r in self.exchanges)


def _index(reports: list[ExchangeOrder]) -> tuple[dict[str, ExchangeOrder],
                                                  dict[str, ExchangeOrder]]:
    by_id = {r.exchange_order_id: r for r in reports if r.exchange_order_id}
    by_client = {r.client_order_id: r for r in reports if r.client_order_id}
    return by_id, by_client


def _not_found(order: Order, report: ExchangeSyncReport, now: datetime, source: str,
               grace: timedelta) -> None:
    """The exchange said it has no such order."""
    if order.status not in (OrderState.PENDING_SUBMIT, OrderState.UNKNOWN):
        message = (f"{order.client_order_id}: {order.status} here but the exchange has no "
                   "such order")
        report.needs_human.append(message)
        logger.error("sync %s: %s", order.exchange.name, message)
        return
    if order.not_found_since is None:
        Order.objects.filter(pk=order.pk, not_found_since__isnull=True).update(
            not_found_since=now)
        logger.info("sync %s: order %s not found; confirming after %s", order.exchange.name,
                    order.client_order_id, grace)
        return
    if now - order.not_found_since < grace:
        return
    try:
        order_transition(
            order_id=order.pk, to_status=OrderState.REJECTED, source=source,
            reason=(f"never reached the exchange: not found at {order.not_found_since:%H:%M:%S} "
                    f"and again at {now:%H:%M:%S} UTC"),
        )
        report.failed += 1
    except IllegalTransition as exc:
        logger.warning("sync: %s", exc)


def _apply(order: Order, found: ExchangeOrder, report: ExchangeSyncReport,
           source: str) -> Order:
    before = (order.status, order.filled_quantity)
    was_unresolved = order.status in (OrderState.PENDING_SUBMIT, OrderState.UNKNOWN)
    order = order_apply_report(order=order, report=found, source=source)
    if order.not_found_since is not None:
        Order.objects.filter(pk=order.pk).update(not_found_since=None)
    if (order.status, order.filled_quantity) != before:
        if was_unresolved:
            report.adopted += 1
        else:
            report.updated += 1
    return order


def exchange_sync(*, exchange: Exchange, adapter: ExchangeAdapter | None = None,
                  source: str = "sync", pending_grace: timedelta = PENDING_GRACE,
                  not_found_grace: timedelta = NOT_FOUND_GRACE,
                  progress=None) -> ExchangeSyncReport:
    """Sync every non-final order of one exchange."""
    report = ExchangeSyncReport(exchange=exchange.name)
    now = timezone.now()
    orders = list(
        Order.objects.filter(exchange=exchange, status__in=LIVE_STATES)
        .filter(~Q(status=OrderState.PENDING_SUBMIT) | Q(created_at__lt=now - pending_grace))
        .select_related("exchange", "market").order_by("pk")
    )
    if not orders:
        return report
    adapter = adapter or get_adapter(exchange)
    try:
        open_now = adapter.open_orders()
    except ExchangeError as exc:
        report.skipped = f"open orders unavailable: {exc}"
        logger.warning("sync %s: %s", exchange.name, report.skipped)
        return report
    by_id, by_client = _index(open_now)

    touched: list[Order] = []
    for number, order in enumerate(orders, 1):
        report.checked += 1
        found = (by_id.get(order.exchange_order_id or "") or by_client.get(order.client_order_id))
        if found is None:
            try:
                found = adapter.get_order(exchange_order_id=order.exchange_order_id,
                                          client_order_id=order.client_order_id,
                                          market=order.market.code)
            except NotFoundError:
                _not_found(order, report, now, source, not_found_grace)
                found = None
            except ExchangeError as exc:
                report.errors.append(f"{order.client_order_id}: {exc}")
                logger.warning("sync %s: order %s not checked: %s", exchange.name,
                               order.client_order_id, exc)
                found = None
        if found is not None:
            touched.append(_apply(order, found, report, source))
        if progress is not None:
            progress(exchange.name, number, len(orders))

    added, errors = fills_fetch_missing(adapter=adapter, orders=touched)
    report.fills_added += added
    report.errors.extend(errors)
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(last_synced_at=timezone.now())
    return report


def opportunities_settle(*, source: str = "sync", limit: int = 500) -> int:
    """Reconcile executing opportunities; return how many closed."""
    closed = 0
    ids = list(Opportunity.objects.filter(status=OpportunityStatus.EXECUTING)
               .order_by("pk").values_list("pk", flat=True)[:limit])
    for opportunity_id in ids:
        try:
            result = opportunity_reconcile(opportunity_id=opportunity_id, source=source)
        except ExchangeError as exc:
            logger.warning("opportunity %s not settled: %s", opportunity_id, exc)
            continue
        closed += result.action == "closed"
    return closed


def orders_sync(*, exchange_names: list[str] | None = None, source: str = "sync") -> SyncReport:
    """Sync every enabled exchange (or those named), then settle opportunities."""
    report = SyncReport()
    exchanges = Exchange.objects.filter(enabled=True)
    if exchange_names:
        exchanges = exchanges.filter(name__in=exchange_names)
    for exchange in exchanges.order_by("name"):
        if breaker_state(exchange.name).state == "open":
            report.exchanges.append(ExchangeSyncReport(exchange.name, skipped="breaker open"))
            continue
        try:
            report.exchanges.append(exchange_sync(exchange=exchange, source=source))
        except ExchangeError as exc:
            report.exchanges.append(ExchangeSyncReport(exchange.name, skipped=str(exc)))
    report.opportunities_closed = opportunities_settle(source=source)
    return report
