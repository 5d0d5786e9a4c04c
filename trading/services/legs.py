"""An entry leg left resting on a book is a naked position in the making:
its rest is cancelled, whoever meets it (issue 10 item 2).

One rule for every path:

- the executor, right after its legs' answers (``leg_rest_cancel``);
- sync and recovery, before settling, for every entry leg still resting
  after its execution window, however it was found: a lost answer adopted
  from the exchange's open orders, a late answer, a recovery
  (``legs_overdue_cancel``);
- the kill switch, for every resting entry leg at once
  (``legs_resting_cancel``).

Then settlement (``settlement.opportunity_reconcile``) unwinds a one-sided
fill by its bounded policy and closes the opportunity.

The execution window is the place timeout (``EXCHANGE_PLACE_TIMEOUT``:
rate-limit wait + connect + read, 15.05 s by default): by then the executor
has its legs' answers and has cancelled their rest itself; an entry leg
still resting after it has lost its executor (an answer lost, a worker
killed) and nobody else would ever cancel it.

Each cancel is recorded before it is sent (an OrderEvent of kind
``leg_cancel`` and a note on the opportunity's history), under a lock per
order (``arbsite.locks.CANCEL_LEG``) so two paths never send it at once. A
cancel sent less than ``CANCEL_CONFIRM`` ago is not sent again: only the
order's state is read (Invex cancels asynchronously).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from arbsite.locks import CANCEL_LEG, redis_lock
from exchanges.errors import ExchangeError, NotFoundError, RejectedError
from exchanges.registry import get_adapter, place_timeout_seconds
from exchanges.states import LIVE_STATES, OrderState
from trading.models import Order, OrderEvent, OrderEventKind
from trading.services.fills import fills_fetch_missing
from trading.services.opportunities import opportunity_note
from trading.services.orders import order_apply_report, order_note_event

logger = logging.getLogger(__name__)

RESTING = (OrderState.OPEN, OrderState.PARTIALLY_FILLED)


def seconds_text(value: float) -> str:
    return f"{value:.1f} s"


def execution_window() -> timedelta:
    """How long an entry leg may rest before anyone but its executor cancels
    it: the place timeout (see the module docstring)."""
    return timedelta(seconds=place_timeout_seconds())


# A cancel sent this recently is confirmed by reading the order, not sent again.
def cancel_confirm() -> timedelta:
    return execution_window()


@dataclass(frozen=True)
class LegCancel:
    """What one call did to one leg."""

    order_id: int
    client_order_id: str
    outcome: str  # cancelled | still-live | not-resting | busy | failed
    detail: str = ""


def leg_rest_cancel(*, order_id: int, source: str, why: str) -> LegCancel:
    """Cancel the rest of one entry leg on its exchange, read its state back
    and its fills; idempotent (see the module docstring)."""
    order = Order.objects.select_related("exchange", "market").get(pk=order_id)
    if order.status not in RESTING:  # the usual case (filled at once): no lock taken
        return LegCancel(order.pk, order.client_order_id, "not-resting", order.status)
    with redis_lock(CANCEL_LEG, scope=str(order_id)) as held:
        order.refresh_from_db()  # as it is now that no one else is cancelling it
        if not held:
            return LegCancel(order.pk, order.client_order_id, "busy",
                             "another process is cancelling it")
        if order.status not in RESTING:
            return LegCancel(order.pk, order.client_order_id, "not-resting", order.status)
        adapter = get_adapter(order.exchange)
        locate = {"exchange_order_id": order.exchange_order_id,
                  "client_order_id": order.client_order_id, "market": order.market.code}
        sent_lately = order.events.filter(
            kind=OrderEventKind.LEG_CANCEL,
            created_at__gte=timezone.now() - cancel_confirm()).exists()
        if not sent_lately:
            message = f"cancel of its rest sent: {why}"
            order_note_event(order_id=order.pk, source=source, message=message,
                             kind=OrderEventKind.LEG_CANCEL)
            if order.opportunity_id is not None:
                opportunity_note(opportunity_id=order.opportunity_id, source=source,
                                 message=f"{order.side} leg {order.client_order_id} on "
                                         f"{order.exchange.name}: {message}")
            logger.warning("order %s on %s (%s): cancelling its rest: %s",
                           order.client_order_id, order.exchange.name, source, why)
            try:
                adapter.cancel_order(**locate)
            except (RejectedError, NotFoundError) as exc:
                # Already final on the exchange: the state read below says which.
                logger.info("order %s on %s: cancel refused (%s); reading its state",
                            order.client_order_id, order.exchange.name, exc)
            except ExchangeError as exc:
                logger.warning("order %s on %s: cancel of its rest failed, retried later: %s",
                               order.client_order_id, order.exchange.name, exc)
                return LegCancel(order.pk, order.client_order_id, "failed", str(exc))
        try:
            report = adapter.get_order(**locate)
        except ExchangeError as exc:
            logger.warning("order %s on %s: state after cancel unknown, read again later: %s",
                           order.client_order_id, order.exchange.name, exc)
            return LegCancel(order.pk, order.client_order_id, "failed",
                             f"cancel sent; state not read: {exc}")
        order = order_apply_report(order=order, report=report, source=source)
        _, errors = fills_fetch_missing(adapter=adapter, orders=[order])
        outcome = "still-live" if order.status in LIVE_STATES else "cancelled"
        return LegCancel(order.pk, order.client_order_id, outcome,
                         "; ".join([order.status, *errors]))


def legs_overdue(*, now: datetime | None = None) -> list[Order]:
    """Entry legs on enabled exchanges still resting after their execution window."""
    now = now or timezone.now()
    return list(Order.objects.filter(
        purpose=Order.Purpose.ENTRY, status__in=RESTING, exchange__enabled=True,
        created_at__lt=now - execution_window()).order_by("pk"))


def legs_overdue_cancel(*, source: str, now: datetime | None = None) -> list[LegCancel]:
    """Cancel the rest of every entry leg still resting after its execution
    window (sync and recovery, before they settle)."""
    now = now or timezone.now()
    window = execution_window()
    results = []
    for order in legs_overdue(now=now):
        rested = seconds_text((now - order.created_at).total_seconds())
        results.append(leg_rest_cancel(
            order_id=order.pk, source=source,
            why=(f"still {order.status} {rested} after it was written, past its execution "
                 f"window of {seconds_text(window.total_seconds())}")))
    return results


def legs_resting_cancel(*, source: str, why: str) -> list[LegCancel]:
    """Cancel the rest of every resting entry leg, whatever its age (the kill
    switch)."""
    ids = Order.objects.filter(purpose=Order.Purpose.ENTRY, status__in=RESTING).order_by(
        "pk").values_list("pk", flat=True)
    return [leg_rest_cancel(order_id=pk, source=source, why=why) for pk in ids]


def naked_seconds(*, opportunity_id: int, until: datetime | None = None) -> float:
    """How long the opportunity held a one-sided position, by its orders'
    recorded fills: the time, summed, during which its net base position
    (bought minus sold, as each fill was recorded) was not zero; a position
    still open counts up to ``until`` (now)."""
    events = (OrderEvent.objects.filter(order__opportunity_id=opportunity_id)
              .select_related("order").order_by("created_at", "id"))
    filled: dict[int, Decimal] = {}
    net, since, total = Decimal(0), None, 0.0
    for event in events:
        before = filled.get(event.order_id, Decimal(0))
        if event.filled_quantity == before:
            continue
        delta = event.filled_quantity - before
        filled[event.order_id] = event.filled_quantity
        net += delta if event.order.side == "buy" else -delta
        if net != 0 and since is None:
            since = event.created_at
        elif net == 0 and since is not None:
            total += (event.created_at - since).total_seconds()
            since = None
    if since is not None:
        total += ((until or timezone.now()) - since).total_seconds()
    return total
