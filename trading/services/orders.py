"""The order lifecycle: the state machine, the only code that changes
``Order.status``, and everything else that writes an order: minting client
order ids, writing new orders with their first event, sending one to its
exchange and mapping the answer (``order_submit``, used by execution and by
unwinds), and applying an exchange's report (``order_apply_report``, used by
execution, sync, recovery and the admin's actions).

Every change is made under a row lock (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite serialises writers itself) and writes an OrderEvent in
the same transaction, so two workers reporting on one order never lose an
update and the history is complete.

    pending_submit → open → partially_filled → filled
                                             → cancelled | expired
    pending_submit → rejected
    any live state → unknown (the exchange cannot say) → any state it later says
    rejected → the exchange's state, when it reports the order after all
               (``reconciled``: its truth wins, and its fills are recorded)

States may be skipped (``pending_submit`` straight to ``filled``). A final
order takes no new status, but may still learn more of its fills (a late
trade report on a cancelled order). The same report twice is a no-op.

``rejected`` says what this system concluded (refused, never sent, not found
twice); the exchange can prove it wrong: a place answer arriving after
recovery gave the order up, or the order met later in a list. Such a
report is never dropped: the order takes the exchange's state through an
event of kind ``reconciled``, and an opportunity already settled without
it is reopened to settle again with the real fill. Nothing moves an order
*to* ``rejected`` except a refusal, a send that certainly never left, or
the exchange's explicit not-found, twice (``trading.services.sync``).

One bad order never stops the rest: sync, recovery, execution and the
admin's actions handle each order in a savepoint of its own, and an
unexpected error on one (a bug, a constraint violation) is recorded on it
by ``order_error`` (an event of kind ``error``, the ``needs_human`` flag,
the traceback in the log) while the others carry on. An exchange order id
already held by another order is a conflict, settled by client order id
(``order_apply_report``): the order whose client id the exchange reports
owns the id; the other is recorded as conflicting (``id_conflict``) and
flagged for a human. Nothing crashes on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from exchanges import client_ids
from exchanges.errors import AmbiguousOrderError, ExchangeError, RejectedError
from exchanges.models import Exchange
from exchanges.registry import get_adapter
from exchanges.states import TERMINAL_STATES, OrderState
from exchanges.types import ExchangeOrder, OrderRequest, OrderType, Side
from trading import killpoints
from trading.models import Order, OrderEvent, OrderEventKind
from trading.pnl import fee_asset_normal
from trading.services.decision_cache import STATE, decision_cache_bump
from trading.services.fills import fills_record
from trading.services.opportunities import opportunity_reopen

logger = logging.getLogger(__name__)

S = OrderState

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_SUBMIT: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED,
                                 S.REJECTED, S.EXPIRED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED,
                          S.REJECTED, S.EXPIRED}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
# Only with an event of kind ``reconciled``: the exchange reports an order held
# rejected here (see the module docstring).
RECONCILABLE_FROM_REJECTED = frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED,
                                        S.EXPIRED, S.UNKNOWN})


class IllegalTransition(Exception):
    """An update the state machine refuses; nothing was written."""

    def __init__(self, order: Order, message: str) -> None:
        self.order_id = order.pk
        self.client_order_id = order.client_order_id
        super().__init__(f"order {order.client_order_id} (id {order.pk}): {message}")


@dataclass(frozen=True)
class TransitionResult:
    order: Order
    changed: bool
    event: OrderEvent | None


def _normalise(to_status: str, current: str, filled: Decimal, quantity: Decimal) -> str:
    """An exchange that says "open" with fills means partially filled
    (Nobitex keeps a partial fill ``Active``); with everything filled, filled.
    A final order is never normalised: "open" after "filled" stays illegal
    (except a rejected one, which the exchange's truth may reopen)."""
    if to_status == S.OPEN and filled > 0 and (current not in TERMINAL_STATES
                                               or current == S.REJECTED):
        return S.PARTIALLY_FILLED if filled < quantity else S.FILLED
    return to_status


def order_transition(
    *,
    order_id: int,
    to_status: str,
    source: str,
    filled_quantity: Decimal | None = None,
    average_price: Decimal | None = None,
    fee: Decimal | None = None,
    fee_asset: str | None = None,
    exchange_order_id: str | None = None,
    reason: str = "",
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
    kind: str = OrderEventKind.UPDATE,
) -> TransitionResult:
    """Apply one report about an order; return whether anything changed.

    Raises IllegalTransition for a status the order cannot take from its
    current one, a filled quantity that would go down or exceed the order,
    or a second, different exchange order id.
    """
    if to_status not in ALLOWED_TRANSITIONS:
        raise ValueError(f"unknown order status {to_status!r}")
    now = at or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        current = order.status

        filled = order.filled_quantity if filled_quantity is None else filled_quantity
        if to_status == S.FILLED and filled_quantity is None:
            filled = order.quantity
        if filled < order.filled_quantity:
            raise IllegalTransition(
                order, f"filled quantity cannot go down ({order.filled_quantity} → {filled})"
            )
        if filled > order.quantity:
            raise IllegalTransition(
                order, f"filled quantity {filled} exceeds the order's quantity {order.quantity}"
            )
        target = _normalise(to_status, current, filled, order.quantity)
        if target == S.PARTIALLY_FILLED and filled == 0:
            raise IllegalTransition(order, "partially_filled needs a filled quantity above zero")

        # The exchange reports an order held rejected: its truth wins.
        reconciling = (current == S.REJECTED and target in RECONCILABLE_FROM_REJECTED
                       and kind in (OrderEventKind.EXCHANGE_REPORT, OrderEventKind.RECONCILED))
        if reconciling:
            kind = OrderEventKind.RECONCILED
            reason = (f"held rejected ({order.status_reason or 'no reason given'}), but the "
                      f"exchange reports it {target} with {filled} filled: its truth applied"
                      + (f"; {reason}" if reason else ""))
        if target != current and not reconciling:
            if current in TERMINAL_STATES or target not in ALLOWED_TRANSITIONS[current]:
                raise IllegalTransition(order, f"illegal transition {current} → {target}")
        elif current in TERMINAL_STATES and target == S.PENDING_SUBMIT:
            raise IllegalTransition(order, f"illegal transition {current} → {target}")

        if exchange_order_id and order.exchange_order_id not in (None, "", exchange_order_id):
            raise IllegalTransition(
                order,
                f"exchange order id {order.exchange_order_id} cannot change to {exchange_order_id}",
            )

        changes: dict[str, Any] = {}
        if target != current:
            changes["status"] = target
        if filled != order.filled_quantity:
            changes["filled_quantity"] = filled
        if average_price is not None and average_price != order.average_price:
            changes["average_price"] = average_price
        if fee is not None and fee != order.fee:
            changes["fee"] = fee
        fee_asset = fee_asset_normal(fee_asset)
        if fee_asset and fee_asset != order.fee_asset:
            changes["fee_asset"] = fee_asset
        if exchange_order_id and exchange_order_id != order.exchange_order_id:
            changes["exchange_order_id"] = exchange_order_id
        if reason and reason != order.status_reason and "status" in changes:
            changes["status_reason"] = reason
        if not changes:
            return TransitionResult(order=order, changed=False, event=None)

        if (current == S.PENDING_SUBMIT and target not in (S.PENDING_SUBMIT, S.REJECTED)
                or reconciling):
            changes.setdefault("submitted_at", order.submitted_at or now)
        for field, value in changes.items():
            setattr(order, field, value)
        order.save(update_fields=[*changes, "updated_at"])
        event = OrderEvent.objects.create(
            order=order,
            kind=kind,
            from_status=current,
            to_status=order.status,
            filled_quantity=order.filled_quantity,
            source=source,
            message=reason,
            payload=payload or {},
        )
    logger.info(
        "order %s on %s: %s → %s filled %s (%s)",
        order.client_order_id, order.exchange_id, current, order.status,
        order.filled_quantity, source,
    )
    return TransitionResult(order=order, changed=True, event=event)


def new_client_order_id(*, exchange: Exchange, purpose: str) -> str:
    """The client order id of a new order of ``purpose`` (an ``Order.Purpose``)
    on ``exchange``, minted by ``exchanges.client_ids``: valid under every
    exchange's documented rule (Wallex's A-Z, 0-9 and ``_``; Nobitex's 32
    characters), unique across exchanges, never reused even after a database
    reset, so an old order on an exchange is never mistaken for a new one."""
    return client_ids.new_client_order_id(exchange_kind=exchange.adapter, purpose=str(purpose))


def orders_write(*, orders: list[Order], source: str, payload: dict[str, Any] | None = None,
                 kind: str = OrderEventKind.CREATED) -> list[Order]:
    """Write new orders (``pending_submit``, or as found on an exchange)
    with their first event, in one INSERT each, before anything is sent.
    Joins the caller's transaction when there is one (no savepoint)."""
    with transaction.atomic(savepoint=False):
        written = Order.objects.bulk_create(orders)
        decision_cache_bump(STATE)  # a bulk insert sends no post_save
        OrderEvent.objects.bulk_create([
            OrderEvent(order=order, kind=kind, from_status="", to_status=order.status,
                       filled_quantity=order.filled_quantity, source=source, message="created",
                       payload=payload or {})
            for order in written
        ])
    return written


def order_request(order: Order) -> OrderRequest:
    """What is sent to the exchange for a written order."""
    return OrderRequest(
        market=order.market.code, side=Side(order.side), type=OrderType(order.order_type),
        quantity=order.quantity, client_order_id=order.client_order_id, price=order.price,
    )


def order_submit(*, order: Order, source: str) -> ExchangeOrder | None:
    """Send a written order to its exchange. A refusal or a lost answer is
    recorded at once through the state machine; the accepted order's report
    is returned, not yet applied (execution stores both legs' answers once
    both are back; an unwind applies its own at once).

    - refused (``RejectedError``) → ``rejected``, with the exchange's code;
    - no usable answer after sending (``AmbiguousOrderError``) → ``unknown``,
      never re-sent: sync and recovery find it by client order id;
    - not sent (breaker open, local rate limit, refused connection, an
      explicit refusal such as a 429: any other ``ExchangeError``) → ``rejected``;
    - anything else (a bug or an unexpected answer after sending: the order
      may exist) → ``unknown``, logged with its traceback.
    """
    adapter = get_adapter(order.exchange)
    try:
        report = adapter.place_order(order_request(order))
    except RejectedError as exc:
        order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source=source,
                         reason=str(exc), payload={"code": exc.code},
                         kind=OrderEventKind.SEND_REFUSED)
        return None
    except AmbiguousOrderError as exc:
        killpoints.reached("leg_ambiguous")
        order_transition(order_id=order.pk, to_status=OrderState.UNKNOWN, source=source,
                         reason=str(exc), kind=OrderEventKind.SEND_AMBIGUOUS)
        return None
    except ExchangeError as exc:
        order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source=source,
                         reason=f"not sent: {exc}", payload={"error": type(exc).__name__},
                         kind=OrderEventKind.SEND_NOT_SENT)
        return None
    except Exception as exc:
        logger.exception("order %s on %s: unexpected error while placing",
                         order.client_order_id, order.exchange_id)
        order_transition(order_id=order.pk, to_status=OrderState.UNKNOWN, source=source,
                         reason=f"unexpected {type(exc).__name__}: {exc}",
                         kind=OrderEventKind.SEND_FAILED)
        return None
    killpoints.reached("leg_sent")
    return report


def order_apply_report(*, order: Order, report: ExchangeOrder, source: str) -> Order:
    """Map an exchange's answer about ``order`` through the state machine and
    record its fills.

    A stale report (status or fill going back) is logged and ignored: the
    order already knows better. A report of an order held ``rejected`` is
    never stale: the exchange has the order, so its state is taken (the
    event's kind is ``reconciled``), its fills recorded, and an opportunity
    settled without them reopened (see the module docstring)."""
    payload = {
        "raw_status": report.raw_status,
        "exchange_order_id": report.exchange_order_id,
        "filled_quantity": str(report.filled_quantity),
        "average_price": str(report.average_price) if report.average_price is not None else None,
    }
    if not _owns_report(order=order, report=report, source=source):
        order.refresh_from_db()
        return order
    result = None
    try:
        result = order_transition(
            order_id=order.pk, to_status=report.state, source=source,
            filled_quantity=report.filled_quantity,
            average_price=report.average_price, fee=report.fee, fee_asset=report.fee_asset,
            exchange_order_id=report.exchange_order_id, payload=payload,
            kind=OrderEventKind.EXCHANGE_REPORT,
        )
        order = result.order
    except IllegalTransition as exc:
        order.refresh_from_db()
        if order.status == S.REJECTED:
            logger.error("order %s on exchange %s: held rejected, the exchange reports it %s, "
                         "and the report could not be applied (%s): needs a human",
                         order.client_order_id, order.exchange_id, report.state, exc)
        else:
            logger.warning("stale report ignored (%s): %s", source, exc)
    if report.fills:
        fills_record(order=order, fills=report.fills)
    if result is not None and result.event is not None and (
            result.event.kind == OrderEventKind.RECONCILED):
        logger.warning("order %s on exchange %s: held rejected, the exchange reports it %s "
                       "with %s filled (%s): reconciled", order.client_order_id,
                       order.exchange_id, order.status, order.filled_quantity, source)
        if order.opportunity_id is not None:
            opportunity_reopen(opportunity_id=order.opportunity_id, source=source,
                               reason=f"order {order.client_order_id} was held rejected; the "
                                      f"exchange reports it {order.status} with "
                                      f"{order.filled_quantity} filled")
    return order


def order_note_event(
    *, order_id: int, source: str, message: str, payload: dict[str, Any] | None = None,
    kind: str = OrderEventKind.NOTE,
) -> OrderEvent:
    """Record something said or asked about an order that changes nothing
    (an operator's cancel or resync request, a note): from = to = its status."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        return OrderEvent.objects.create(
            order=order,
            kind=kind,
            from_status=order.status,
            to_status=order.status,
            filled_quantity=order.filled_quantity,
            source=source,
            message=message,
            payload=payload or {},
        )


def order_flag(*, order_id: int, source: str, message: str,
               kind: str = OrderEventKind.ERROR,
               payload: dict[str, Any] | None = None) -> OrderEvent | None:
    """Flag an order "needs a human" with an event saying why (``kind``:
    ``error``, ``id_conflict``, ``lookup_unclear`` …). The same message on the
    order's last event is not repeated (a sync every few seconds meets the
    same trouble again). Returns the event written, if any."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if not order.needs_human:
            Order.objects.filter(pk=order_id).update(needs_human=True, updated_at=timezone.now())
        last = order.events.order_by("-id").values_list("kind", "message").first()
        if last == (kind, message):
            return None
        return OrderEvent.objects.create(
            order=order, kind=kind, from_status=order.status, to_status=order.status,
            filled_quantity=order.filled_quantity, source=source, message=message,
            payload=payload or {},
        )


def order_error(*, order: Order, source: str, doing: str, error: BaseException) -> str:
    """Record an unexpected error met while ``doing`` something to one order:
    logged with its context and traceback, written on the order's history
    (kind ``error``) and the order flagged "needs a human". Call it outside
    the (rolled back) savepoint the error broke. Returns the one-line text
    (for a report or a message). Never raises: a database that cannot take
    the record is logged too."""
    text = f"{doing}: unexpected {type(error).__name__}: {error}"
    logger.error("order %s (client id %s) on exchange %s: %s; needs a human", order.pk,
                 order.client_order_id, getattr(order.exchange, "name", order.exchange_id),
                 text, exc_info=error)
    try:
        order_flag(order_id=order.pk, source=source, message=text,
                   payload={"error": type(error).__name__, "doing": doing})
    except (DatabaseError, Order.DoesNotExist):
        logger.exception("order %s (client id %s): the error could not be recorded on it",
                         order.pk, order.client_order_id)
    return text


def order_flag_clear(*, order_id: int, source: str, reason: str) -> bool:
    """An operator has looked: clear the order's "needs a human" flag, with an
    event (kind ``checked``). False when it was not flagged."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if not order.needs_human:
            return False
        Order.objects.filter(pk=order_id).update(needs_human=False, updated_at=timezone.now())
        OrderEvent.objects.create(
            order=order, kind=OrderEventKind.CHECKED, from_status=order.status,
            to_status=order.status, filled_quantity=order.filled_quantity, source=source,
            message=f"checked: {reason}" if reason else "checked",
        )
    return True


def _owns_report(*, order: Order, report: ExchangeOrder, source: str) -> bool:
    """Whether ``report`` may be applied to ``order`` as far as ids go,
    settling a conflict of exchange order ids by client order id.

    - The report names another client order id (the exchange says it is
      another order's): not applied; ``order`` is flagged ``id_conflict``.
    - Its exchange order id is held by another order here: the exchange's
      client id decides. When it is ``order``'s, ``order`` owns the id and
      the other order gives it up (its id kept on its history, flagged);
      when the report names no client id, nothing can decide: not applied,
      both flagged, ``order`` left as it is (recovery finds it by client id).
    """
    exchange_id = report.exchange_order_id
    named = report.client_order_id
    if (named and named != order.client_order_id and not order.is_external
            and exchange_id != named):  # Wallex knows orders by our client id
        order_flag(order_id=order.pk, source=source, kind=OrderEventKind.ID_CONFLICT,
                   message=(f"the exchange reported order {exchange_id or '-'} under client "
                            f"id {named}, not this order's: report not applied"),
                   payload={"exchange_order_id": exchange_id, "client_order_id": named})
        logger.error("order %s (client id %s) on exchange %s: the exchange's report names "
                     "client id %s (exchange id %s): not applied; needs a human", order.pk,
                     order.client_order_id, order.exchange_id, named, exchange_id)
        return False
    if not exchange_id or order.exchange_order_id == exchange_id:
        return True
    holder = (Order.objects.filter(exchange_id=order.exchange_id, exchange_order_id=exchange_id)
              .exclude(pk=order.pk).first())
    if holder is None:
        return True
    if named != order.client_order_id:
        message = (f"exchange order id {exchange_id} is held by order {holder.client_order_id} "
                   "and the exchange's report names no client id: cannot tell whose it is; "
                   "report not applied")
        for flagged in (order, holder):
            order_flag(order_id=flagged.pk, source=source, kind=OrderEventKind.ID_CONFLICT,
                       message=message, payload={"exchange_order_id": exchange_id,
                                                 "orders": [order.client_order_id,
                                                            holder.client_order_id]})
        logger.error("order %s (client id %s) on exchange %s: %s; needs a human", order.pk,
                     order.client_order_id, order.exchange_id, message)
        return False
    with transaction.atomic():
        Order.objects.filter(pk=holder.pk).update(exchange_order_id=None,
                                                  updated_at=timezone.now())
        order_flag(order_id=holder.pk, source=source, kind=OrderEventKind.ID_CONFLICT,
                   message=(f"exchange order id {exchange_id} was held here, but the exchange "
                            f"reports it as order {order.client_order_id}'s (by client order "
                            "id): given up to it; what this order really was on the exchange "
                            "needs a human"),
                   payload={"exchange_order_id": exchange_id,
                            "now_owned_by": order.client_order_id})
        order_note_event(order_id=order.pk, source=source, kind=OrderEventKind.ID_CONFLICT,
                         message=(f"exchange order id {exchange_id} was held by order "
                                  f"{holder.client_order_id}; the exchange reports it under "
                                  "this order's client id: taken"),
                         payload={"exchange_order_id": exchange_id,
                                  "taken_from": holder.client_order_id})
    logger.error("exchange %s: order id %s was held by order %s (client id %s); the exchange "
                 "reports it as order %s's (client id %s): moved, the old one flagged for a "
                 "human", order.exchange_id, exchange_id, holder.pk, holder.client_order_id,
                 order.pk, order.client_order_id)
    return True
