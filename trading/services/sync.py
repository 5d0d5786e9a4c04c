"""Order sync: bring the orders that are not final up to date with their
exchanges, record every fill once, and settle the opportunities.

Batched: one open-orders list per exchange answers for every order still
resting; the orders that left it are looked up together through the
exchange's list endpoints (``ExchangeAdapter.lookup_orders``), one by one
only where the exchange has no such list. The same code serves the periodic
sync and recovery (``trading.services.recovery``), which also imports the
orders found open on an exchange that this system never placed.

Ambiguity is respected: a timeout, a 5xx or a rate limit says nothing about
whether an order exists. An order is declared never placed (``rejected``)
only when every search that could find it has answered explicitly that it
is not there (``OrdersLookup.not_found``), twice, the grace period apart,
and never while its place request may still be in flight (the place
timeout, ``exchanges.registry.place_timeout_seconds``; the grace may not be
shorter). An answer that cannot be classified (``OrdersLookup.unclear``)
keeps the order ``unknown`` and tells a human: on the order's history
(``lookup_unclear``) and in the report's ``needs_human``. An order held
``rejected`` that the exchange lists open after all takes the exchange's
state (``orders.order_apply_report``: ``reconciled``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from arbsite.formatting import moment
from arbsite.locks import SYNC_ORDERS, redis_lock
from exchanges.breaker import breaker_state
from exchanges.errors import ExchangeError
from exchanges.interface import LIST_LOOKBACK_MARGIN_S, ExchangeAdapter
from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter, place_timeout_seconds
from exchanges.states import LIVE_STATES, OrderState
from exchanges.types import ExchangeOrder, OrderRef, OrdersLookup, Side
from trading import killpoints
from trading.models import Opportunity, OpportunityStatus, Order, OrderEventKind
from trading.services.fills import fills_fetch_missing
from trading.services.opportunities import opportunities_expire
from trading.services.orders import (
    IllegalTransition,
    new_client_order_id,
    order_apply_report,
    order_note_event,
    order_transition,
    orders_write,
)
from trading.services.settlement import opportunity_reconcile

logger = logging.getLogger(__name__)

# An order still pending_submit this young belongs to an executor that may be
# sending it right now: sync leaves it alone.
PENDING_GRACE = timedelta(seconds=30)
# Between the first and the confirming explicit not-found of an order.
NOT_FOUND_GRACE = timedelta(seconds=30)
# How long a sync waits out rate limits while looking orders up.
LOOKUP_PATIENCE = 30.0

Progress = Callable[[str, int, int], None]
UNRESOLVED = (OrderState.PENDING_SUBMIT, OrderState.UNKNOWN)


class GraceTooShort(ValueError):
    """A not-found grace below the place timeout: refused."""


def place_timeout() -> timedelta:
    """How long a place request may be in flight after its order was written."""
    return timedelta(seconds=place_timeout_seconds())


def grace_check(grace: timedelta, *, what: str) -> timedelta:
    """``grace`` if it is at least the place timeout, else ``GraceTooShort``
    naming ``what`` (the option or setting it came from): an order whose
    place request may still be in flight must never be declared never placed
    (issue 10 item 3: a grace of 0 failed an order that then filled)."""
    timeout = place_timeout()
    if grace < timeout:
        raise GraceTooShort(
            f"{what} of {grace.total_seconds():g}s is below the place timeout of "
            f"{timeout.total_seconds():g}s (EXCHANGE_RATE_LIMIT_MAX_WAIT + "
            "EXCHANGE_CONNECT_TIMEOUT + EXCHANGE_READ_TIMEOUT): an order still being placed "
            "could be declared never placed. Use at least that.")
    return grace


def configured_not_found_grace() -> timedelta:
    """``ORDER_NOT_FOUND_GRACE_SECONDS`` (30 s unless set), checked against the
    place timeout (``ImproperlyConfigured`` naming the setting)."""
    value = getattr(settings, "ORDER_NOT_FOUND_GRACE_SECONDS", None)
    grace = timedelta(seconds=float(value)) if value is not None else NOT_FOUND_GRACE
    try:
        return grace_check(grace, what="ORDER_NOT_FOUND_GRACE_SECONDS")
    except GraceTooShort as exc:
        raise ImproperlyConfigured(str(exc)) from None


@dataclass
class ExchangeSyncReport:
    exchange: str
    checked: int = 0
    updated: int = 0
    adopted: int = 0
    imported: int = 0
    failed: int = 0
    fills_added: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    needs_human: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what a dry run would do
    not_found_pending: int = 0  # first not-found seen: to confirm after the grace
    unclear: int = 0  # answers that cannot be classified: those orders need a human
    skipped: str = ""


@dataclass
class SyncReport:
    exchanges: list[ExchangeSyncReport] = field(default_factory=list)
    opportunities_closed: int = 0
    locked_out: bool = False  # another sync was running: nothing done

    @property
    def complete(self) -> bool:
        return all(not r.skipped and not r.errors and not r.unclear for r in self.exchanges)


def _index(reports: list[ExchangeOrder]) -> tuple[dict[str, ExchangeOrder],
                                                  dict[str, ExchangeOrder]]:
    by_id = {r.exchange_order_id: r for r in reports if r.exchange_order_id}
    by_client = {r.client_order_id: r for r in reports if r.client_order_id}
    return by_id, by_client


def _not_found(order: Order, report: ExchangeSyncReport, now: datetime, source: str,
               grace: timedelta, dry_run: bool) -> None:
    """Every search that could find the order answered that it is not there."""
    if order.status not in UNRESOLVED:
        message = (f"{order.client_order_id}: {order.status} here but the exchange has no "
                   "such order")
        report.needs_human.append(message)
        logger.error("sync %s: %s", order.exchange.name, message)
        return
    # Its place request may still be in flight: never failed yet, whatever the grace.
    young = now - order.created_at < place_timeout()
    if order.not_found_since is None or now - order.not_found_since < grace or young:
        report.not_found_pending += 1
        if dry_run:
            report.actions.append(f"{order.client_order_id}: not found; would confirm after "
                                  f"{grace.total_seconds():g}s and mark it rejected")
            return
        if order.not_found_since is None:
            Order.objects.filter(pk=order.pk, not_found_since__isnull=True).update(
                not_found_since=now)
            logger.info("sync %s: order %s not found; confirming after %s",
                        order.exchange.name, order.client_order_id, grace)
        return
    if dry_run:
        report.actions.append(f"{order.client_order_id}: not found twice; would be rejected")
        report.failed += 1
        return
    try:
        order_transition(
            order_id=order.pk, to_status=OrderState.REJECTED, source=source,
            reason=(f"never reached the exchange: not found at "
                    f"{moment(order.not_found_since, date=False, label=False)} and again at "
                    f"{moment(now, date=False)}"),
            kind=OrderEventKind.NOT_FOUND,
        )
        report.failed += 1
    except IllegalTransition as exc:
        logger.warning("sync: %s", exc)


def _unclear(order: Order, error: str, report: ExchangeSyncReport, source: str,
             dry_run: bool) -> None:
    """The exchange answered about the order in a way that cannot be
    classified: the order stays (or becomes) ``unknown`` and a human is told,
    on the order's history (once per distinct answer) and in the report."""
    message = (f"{order.client_order_id}: the exchange's answer cannot be classified ({error}); "
               f"left {OrderState.UNKNOWN if order.status in UNRESOLVED else order.status}: "
               "check the order on the exchange and resolve it by hand")
    report.needs_human.append(message)
    report.unclear += 1
    logger.error("sync %s: %s", order.exchange.name, message)
    if dry_run:
        return
    reason = f"the exchange's answer cannot be classified: {error}"
    if order.not_found_since is not None:  # "not there" twice means twice in a row
        Order.objects.filter(pk=order.pk).update(not_found_since=None)
    if order.status == OrderState.PENDING_SUBMIT:
        try:
            order_transition(order_id=order.pk, to_status=OrderState.UNKNOWN, source=source,
                             reason=reason, kind=OrderEventKind.LOOKUP_UNCLEAR)
        except IllegalTransition as exc:  # its executor stored an answer meanwhile
            logger.info("sync: %s", exc)
        return
    last = order.events.order_by("-id").values_list("kind", "message").first()
    if last != (OrderEventKind.LOOKUP_UNCLEAR, reason):
        order_note_event(order_id=order.pk, source=source, message=reason,
                         kind=OrderEventKind.LOOKUP_UNCLEAR)


# How long after this system gave an order up (never sent, or not found twice)
# sync keeps reading its exchange's open orders for it, though nothing else
# is live there: a late place may still show it.
GIVEN_UP_WATCH = timedelta(minutes=10)


def _given_up_lately(exchange: Exchange, now: datetime) -> bool:
    return Order.objects.filter(
        exchange=exchange, status=OrderState.REJECTED, updated_at__gte=now - GIVEN_UP_WATCH,
        events__kind__in=[OrderEventKind.NOT_FOUND, OrderEventKind.SEND_NOT_SENT],
    ).exists()


def _given_up_by_fields(exchange: Exchange,
                        open_now: list[ExchangeOrder]) -> list[tuple[Order, ExchangeOrder]]:
    """Orders given up lately (no exchange id known) matched to open rows that
    name no client order id (Nobitex's lists) and are known here under no id,
    by market, side, amount, price and creation time: only pairs where each
    side has exactly one candidate, never a guess between two."""
    unnamed = [r for r in open_now if not r.client_order_id and r.exchange_order_id
               and r.side is not None and r.quantity is not None]
    if not unnamed:
        return []
    since = timezone.now() - GIVEN_UP_WATCH
    given_up = list(Order.objects.filter(
        exchange=exchange, status=OrderState.REJECTED, exchange_order_id__isnull=True,
        updated_at__gte=since,
        events__kind__in=[OrderEventKind.NOT_FOUND, OrderEventKind.SEND_NOT_SENT],
    ).distinct().select_related("exchange", "market"))
    if not given_up:
        return []
    known = set(Order.objects.filter(exchange=exchange, exchange_order_id__in=[
        r.exchange_order_id for r in unnamed]).values_list("exchange_order_id", flat=True))
    rows = [r for r in unnamed if r.exchange_order_id not in known]

    def could_be(order: Order, row: ExchangeOrder) -> bool:
        if row.market != order.market.code or row.side.value != order.side:
            return False
        if row.quantity != order.quantity or (row.price is None) != (order.price is None):
            return False
        if row.price is not None and abs(row.price - order.price) > order.price * PRICE_SLACK:
            return False
        return row.created_at is None or (
            order.created_at - FIELD_MATCH_BEFORE <= row.created_at
            <= order.created_at + FIELD_MATCH_AFTER)

    matches = {o.pk: [r for r in rows if could_be(o, r)] for o in given_up}
    claims: dict[str, int] = {}
    for candidates in matches.values():
        for row in candidates:
            claims[str(row.exchange_order_id)] = claims.get(str(row.exchange_order_id), 0) + 1
    return [(order, matches[order.pk][0]) for order in given_up
            if len(matches[order.pk]) == 1
            and claims[str(matches[order.pk][0].exchange_order_id)] == 1]


# Matching a given-up order to an unnamed open row: the exchange rounds the
# price to its tick (well within this share of it); its clock and our own
# may differ, and the place may have been slow.
PRICE_SLACK = Decimal("0.0001")
FIELD_MATCH_BEFORE = timedelta(seconds=60)
FIELD_MATCH_AFTER = timedelta(seconds=120)


def _reconcile_rejected(exchange: Exchange, open_now: list[ExchangeOrder],
                        report: ExchangeSyncReport, source: str, dry_run: bool) -> list[Order]:
    """Orders held ``rejected`` here that the exchange lists open: the
    exchange's truth wins (``reconciled``); returns them for their fills."""
    by_id, by_client = _index(open_now)
    held = Order.objects.filter(exchange=exchange, status=OrderState.REJECTED).filter(
        Q(client_order_id__in=list(by_client)) | Q(exchange_order_id__in=list(by_id))
        | Q(exchange_order_id__in=list(by_client))).select_related("exchange", "market")
    pairs = []
    for order in held:
        found = (by_id.get(order.exchange_order_id or "")
                 or by_client.get(order.exchange_order_id or "")
                 or by_client.get(order.client_order_id))
        if found is not None:
            pairs.append((order, found))
    pairs += _given_up_by_fields(exchange, open_now)
    reconciled = []
    for order, found in pairs:
        message = (f"{order.client_order_id}: held rejected ({order.status_reason}), but "
                   f"{exchange.name} lists it {found.state} with {found.filled_quantity} filled")
        report.needs_human.append(message + ("; would take its state" if dry_run
                                             else "; its state taken (reconciled)"))
        logger.error("sync %s: %s", exchange.name, message)
        if not dry_run:
            reconciled.append(order_apply_report(order=order, report=found, source=source))
            report.updated += 1
    return reconciled


def _apply(order: Order, found: ExchangeOrder, report: ExchangeSyncReport,
           source: str, dry_run: bool) -> Order:
    before = (order.status, order.filled_quantity)
    was_unresolved = order.status in UNRESOLVED
    if dry_run:
        if (found.state, found.filled_quantity) != before:
            verb = "adopt" if was_unresolved else "update"
            report.actions.append(f"{order.client_order_id}: would {verb} {before[0]} → "
                                  f"{found.state} filled {found.filled_quantity}")
            report.adopted += was_unresolved
            report.updated += not was_unresolved
        return order
    order = order_apply_report(order=order, report=found, source=source)
    if order.not_found_since is not None:
        Order.objects.filter(pk=order.pk).update(not_found_since=None)
    if (order.status, order.filled_quantity) != before:
        if was_unresolved:
            report.adopted += 1
        else:
            report.updated += 1
    return order


def _import_external(exchange: Exchange, found: ExchangeOrder, report: ExchangeSyncReport,
                     source: str, dry_run: bool, adapter: ExchangeAdapter,
                     cancel: bool) -> None:
    """An order open on the exchange that this system never wrote down."""
    label = found.client_order_id or found.exchange_order_id
    base, _, quote = (found.market or "").partition("-")
    market = Market.objects.filter(base=base, quote=quote).first() if quote else None
    if market is None or found.side is None or found.quantity is None:
        report.needs_human.append(f"external order {label}: market {found.market!r} or its "
                                  "side/quantity unknown here; not imported")
        return
    if dry_run:
        report.imported += 1
        report.actions.append(f"external order {label} ({found.side} {found.quantity} "
                              f"{found.market}): would import" + (" and cancel" if cancel else ""))
        return
    # Ours, minted like every other (the exchange's own client id, if any, is
    # kept in the notes, and is the exchange order id where the exchange knows
    # orders by it: Wallex).
    client_id = new_client_order_id(exchange=exchange, purpose=Order.Purpose.EXTERNAL)
    try:
        with transaction.atomic():
            [order] = orders_write(orders=[Order(
                exchange=exchange, market=market, opportunity=None, is_external=True,
                purpose=Order.Purpose.EXTERNAL, client_order_id=client_id,
                exchange_order_id=found.exchange_order_id or found.client_order_id,
                side=found.side.value, order_type=(found.type or "limit"),
                quantity=found.quantity, price=found.price,
                notes=f"found open on {exchange.name} by {source}; exchange client id "
                      f"{found.client_order_id or '-'}",
            )], source=source, payload={"raw_status": found.raw_status, "external": True,
                                        "exchange_client_order_id": found.client_order_id},
                kind=OrderEventKind.IMPORTED)
    except IntegrityError:
        logger.info("sync %s: external order %s already imported", exchange.name, label)
        return
    order = order_apply_report(order=order, report=found, source=source)
    report.imported += 1
    report.needs_human.append(f"external order {label} imported as {order.client_order_id}"
                              + ("" if cancel else " (left open)"))
    logger.warning("sync %s: imported external order %s (%s %s %s)", exchange.name, label,
                   found.side, found.quantity, found.market)
    if cancel:
        try:
            adapter.cancel_order(exchange_order_id=order.exchange_order_id,
                                 client_order_id=found.client_order_id, market=found.market)
            order_apply_report(order=order, source=source, report=adapter.get_order(
                exchange_order_id=order.exchange_order_id,
                client_order_id=found.client_order_id, market=found.market))
        except ExchangeError as exc:
            report.errors.append(f"cancel of external order {label}: {exc}")


def _externals(exchange: Exchange, open_now: list[ExchangeOrder]) -> list[ExchangeOrder]:
    """Open orders the database knows under neither id, in any status."""
    client_ids = {r.client_order_id for r in open_now if r.client_order_id}
    exchange_ids = {r.exchange_order_id for r in open_now if r.exchange_order_id}
    known = Order.objects.filter(exchange=exchange).filter(
        Q(client_order_id__in=client_ids) | Q(exchange_order_id__in=exchange_ids)
        | Q(exchange_order_id__in=client_ids))
    known_ids = set()
    for client_id, exchange_id in known.values_list("client_order_id", "exchange_order_id"):
        known_ids.update({client_id, exchange_id})
    return [r for r in open_now
            if r.client_order_id not in known_ids and r.exchange_order_id not in known_ids]


def order_ref(order: Order) -> OrderRef:
    """What an exchange needs to find ``order``: its ids, and what it was (side,
    amount, limit price, when it was written), so that an exchange whose
    order lists name no client order id (Nobitex) can still find a
    lost-answer order that is no longer open."""
    return OrderRef(
        client_order_id=order.client_order_id, exchange_order_id=order.exchange_order_id,
        market=order.market.code, created_at=order.created_at, quantity=order.quantity,
        side=Side(order.side),
        price=order.price if order.order_type == Order.Type.LIMIT else None,
    )


# How far before the oldest order looked up the orders known here must
# reach: the exchange's list is read back to that order's creation less
# LIST_LOOKBACK_MARGIN_S, and clocks may differ by as much again.
KNOWN_IDS_REACH = timedelta(seconds=2 * LIST_LOOKBACK_MARGIN_S)


def known_exchange_ids(*, exchange: Exchange, orders: list[Order]) -> set[str]:
    """The exchange ids of every order known here on ``exchange`` that a list
    search for ``orders`` may meet: a known order is never taken for a
    lost-answer one (its twin by side, amount, price and minute)."""
    times = [o.created_at for o in orders if o.created_at is not None]
    if not times:
        return set()
    return set(Order.objects.filter(
        exchange=exchange, exchange_order_id__isnull=False,
        created_at__gte=min(times) - KNOWN_IDS_REACH,
    ).values_list("exchange_order_id", flat=True))


def orders_lookup(*, adapter: ExchangeAdapter, exchange: Exchange, orders: list[Order],
                  patience: float) -> OrdersLookup:
    """Look ``orders`` up on their exchange in one batch (``lookup_orders``),
    with everything the exchange's searches can use."""
    if not orders:
        return OrdersLookup()
    return adapter.lookup_orders(
        [order_ref(o) for o in orders], patience=patience,
        known_exchange_ids=known_exchange_ids(exchange=exchange, orders=orders))


@dataclass(frozen=True)
class SyncMode:
    """How one pass over an exchange's orders behaves; the periodic sync
    (``exchange_sync``) and recovery (``trading.services.recovery``) differ
    only here.

    - ``pending_grace``: a ``pending_submit`` order younger than this belongs
      to an executor that may be sending it right now, and is left alone;
    - ``not_found_grace``: between the first and the confirming not-found;
    - ``patience``: seconds spent waiting out rate limits while looking up;
    - ``wait_out_backoff``: a rate-limit back-off in force (an earlier 429,
      the local limiter) is waited out, within ``patience``, before the open
      orders are read, instead of skipping the exchange (recovery must
      finish; the periodic sync tries again in a few seconds);
    - ``import_external`` / ``cancel_external``: orders open on the exchange
      that this system never placed are imported (and cancelled);
    - ``dry_run``: say what would be done, change nothing.
    """

    source: str
    pending_grace: timedelta
    not_found_grace: timedelta
    patience: float
    wait_out_backoff: bool = False
    import_external: bool = False
    cancel_external: bool = False
    dry_run: bool = False


def exchange_sync(*, exchange: Exchange, source: str = "sync") -> ExchangeSyncReport:
    """The periodic sync of one exchange's orders that are not final."""
    return exchange_sync_pass(exchange=exchange, mode=SyncMode(
        source=source, pending_grace=PENDING_GRACE,
        not_found_grace=configured_not_found_grace(), patience=LOOKUP_PATIENCE))


def exchange_sync_pass(*, exchange: Exchange, mode: SyncMode,
                       adapter: ExchangeAdapter | None = None, progress: Progress | None = None,
                       only_ids: list[int] | None = None) -> ExchangeSyncReport:
    """One pass over every non-final order of one exchange (or those of
    ``only_ids``), as ``mode`` says."""
    report = ExchangeSyncReport(exchange=exchange.name)
    source, grace, dry_run = mode.source, mode.not_found_grace, mode.dry_run
    now = timezone.now()
    query = (Order.objects.filter(exchange=exchange, status__in=LIVE_STATES)
             .filter(~Q(status=OrderState.PENDING_SUBMIT)
                     | Q(created_at__lt=now - mode.pending_grace)
                     # recovery already looked it up: confirm without waiting for its age
                     | Q(not_found_since__isnull=False)))
    if only_ids is not None:
        query = query.filter(pk__in=only_ids)
    orders = list(query.select_related("exchange", "market").order_by("pk"))
    if not orders and not mode.import_external and not Order.objects.filter(
            exchange=exchange, opportunity__status=OpportunityStatus.EXECUTING).exists() and (
            not _given_up_lately(exchange, now)):
        return report
    adapter = adapter or get_adapter(exchange)
    patience = mode.patience if mode.wait_out_backoff else 0.0
    try:
        open_now = adapter.patiently(adapter.open_orders,
                                     deadline=time.monotonic() + patience)
        report.calls += 1
    except ExchangeError as exc:
        report.skipped = f"open orders unavailable: {exc}"
        logger.warning("sync %s: %s", exchange.name, report.skipped)
        return report
    by_id, by_client = _index(open_now)

    found_for: dict[int, ExchangeOrder] = {}
    missing: list[Order] = []
    for order in orders:
        found = by_id.get(order.exchange_order_id or "") or by_client.get(order.client_order_id)
        if found is None:
            missing.append(order)
        else:
            found_for[order.pk] = found
    lookup = orders_lookup(adapter=adapter, exchange=exchange, orders=missing,
                           patience=mode.patience)
    report.calls += lookup.calls

    touched: list[Order] = _reconcile_rejected(exchange, open_now, report, source, dry_run)
    for number, order in enumerate(orders, 1):
        report.checked += 1
        found = found_for.get(order.pk) or lookup.found.get(order.client_order_id)
        if found is not None:
            touched.append(_apply(order, found, report, source, dry_run))
            if number == 1:
                killpoints.reached("during_sync")
        elif order.client_order_id in lookup.not_found:
            _not_found(order, report, now, source, grace, dry_run)
        elif order.client_order_id in lookup.unclear:
            _unclear(order, lookup.errors[order.client_order_id], report, source, dry_run)
        elif order.client_order_id in lookup.errors:
            error = lookup.errors[order.client_order_id]
            report.errors.append(f"{order.client_order_id}: {error}")
            logger.warning("sync %s: order %s not checked: %s", exchange.name,
                           order.client_order_id, error)
        if progress is not None and (number % 100 == 0 or number == len(orders)):
            progress(exchange.name, number, len(orders))

    if mode.import_external:
        for found in _externals(exchange, open_now):
            _import_external(exchange, found, report, source, dry_run, adapter,
                             mode.cancel_external)
    if dry_run:
        return report
    # Final orders of unsettled opportunities whose Trades fall short (a crash
    # between storing the answer and reading its fills): read the fills too.
    touched += list(Order.objects.filter(
        exchange=exchange, opportunity__status=OpportunityStatus.EXECUTING,
        filled_quantity__gt=0).exclude(status__in=LIVE_STATES).select_related("market"))
    added, errors = fills_fetch_missing(adapter=adapter, orders=touched,
                                        patience=mode.patience)
    report.fills_added += added
    report.errors.extend(errors)
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(last_synced_at=timezone.now())
    return report


def opportunities_settle(*, source: str = "sync", limit: int = 500) -> int:
    """Reconcile executing opportunities; return how many closed."""
    opportunities_expire(source=source)
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
    """Sync every enabled exchange (or those named), then settle opportunities.

    One periodic sync at a time (``arbsite.locks.SYNC_ORDERS``): a sync that
    finds another running does nothing and says so (``locked_out``)."""
    report = SyncReport()
    with redis_lock(SYNC_ORDERS) as acquired:
        if not acquired:
            report.locked_out = True
            return report
        exchanges = Exchange.objects.filter(enabled=True)
        if exchange_names:
            exchanges = exchanges.filter(name__in=exchange_names)
        for exchange in exchanges.order_by("name"):
            if breaker_state(exchange.name).state == "open":
                report.exchanges.append(ExchangeSyncReport(exchange.name,
                                                           skipped="breaker open"))
                continue
            try:
                report.exchanges.append(exchange_sync(exchange=exchange, source=source))
            except ExchangeError as exc:
                report.exchanges.append(ExchangeSyncReport(exchange.name, skipped=str(exc)))
        report.opportunities_closed = opportunities_settle(source=source)
    return report

