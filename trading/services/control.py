"""The services behind the admin's control actions.

Each is one call an admin view makes after its confirmation page: it
validates, changes state with a compare-and-set (or through the order state
machine), records an OrderEvent with ``source = admin:<username>`` where an
order is touched, and returns what happened for the view to report. The
view writes Django's LogEntry; configuration rows keep their history through
django-simple-history (the acting user and the reason are passed to it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.breaker import breaker_reset, breaker_state
from exchanges.errors import ExchangeError, NotFoundError, RejectedError, TransientError
from exchanges.interface import ExchangeAdapter
from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import LIVE_STATES, OrderState
from exchanges.types import ExchangeOrder
from trading.models import Order, OrderEventKind
from trading.services.fills import fills_fetch_missing
from trading.services.legs import LegCancel, legs_resting_cancel
from trading.services.orders import (
    ALLOWED_TRANSITIONS,
    TransitionResult,
    order_apply_report,
    order_error,
    order_flag_clear,
    order_note_event,
    order_transition,
)
from trading.services.recovery import recovery_last_summary
from trading.services.risk import kill_switch_set
from trading.services.sync import orders_lookup

logger = logging.getLogger(__name__)

RECOVERY_REQUEST_TTL = 7 * 24 * 3600


def actor(user: AbstractBaseUser) -> str:
    """The source written on events and the kill switch: ``admin:<username>``."""
    return f"admin:{user.get_username()}"


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    return reason


# --- Kill switch --------------------------------------------------------------


@dataclass(frozen=True)
class KillSwitchOutcome:
    changed: bool
    legs: list[LegCancel]  # the resting entry legs it cancelled (tripping only)

    def __bool__(self) -> bool:
        return self.changed

    @property
    def legs_text(self) -> str:
        """``2 resting entry legs cancelled; 1 not confirmed yet (…)``, or ''."""
        if not self.legs:
            return ""
        done = [leg for leg in self.legs if leg.outcome in ("cancelled", "not-resting")]
        rest = [f"{leg.client_order_id}: {leg.outcome} {leg.detail}".strip()
                for leg in self.legs if leg not in done]
        return (f"{len(done)} resting entry leg(s) cancelled"
                + (f"; not confirmed yet, sync retries: {'; '.join(rest)}" if rest else "")
                + ". A one-sided fill is unwound by the next sync.")


def kill_switch_change(*, active: bool, user: AbstractBaseUser,
                       reason: str) -> KillSwitchOutcome:
    """Trip (``active``) or reset the kill switch; false if it already was so.

    Tripping it also cancels the rest of every resting entry leg
    (``legs.legs_resting_cancel``), even when it already was on: a leg
    resting on a book is exposure the switch is meant to stop. Sync then
    unwinds a one-sided fill by the bounded policy."""
    reason = _require_reason(reason)
    changed = kill_switch_set(active=active, reason=reason, actor=actor(user))
    legs = (legs_resting_cancel(source=actor(user), why=f"kill switch tripped: {reason}")
            if active else [])
    return KillSwitchOutcome(changed, legs)


# --- Exchanges and markets ------------------------------------------------------

ExchangeFlag = Literal["enabled", "trading_enabled"]


def _flag_set(model: type[Model], pk: int, field: str, value: bool,
              user: AbstractBaseUser, reason: str) -> bool:
    """Compare-and-set one boolean under a row lock, saved (not ``update()``d)
    so that its history records the user and the reason."""
    with transaction.atomic():
        row = model.objects.select_for_update().get(pk=pk)
        if getattr(row, field) == value:
            return False
        setattr(row, field, value)
        row._history_user = user
        row._change_reason = reason
        fields = [field] + (["updated_at"] if hasattr(row, "updated_at") else [])
        row.save(update_fields=fields)
    logger.warning("%s %s: %s set to %s by %s: %s", model.__name__, row, field, value,
                   actor(user), reason)
    return True


def exchange_flag_set(*, exchange_id: int, field: ExchangeFlag, value: bool,
                      user: AbstractBaseUser, reason: str) -> bool:
    """Pause or resume trading (``trading_enabled``) or all activity
    (``enabled``) on one exchange; False if it already was so."""
    if field not in ("enabled", "trading_enabled"):
        raise ValueError(f"not an exchange switch: {field}")
    return _flag_set(Exchange, exchange_id, field, value, user, _require_reason(reason))


def market_enabled_set(*, market_id: int, value: bool, user: AbstractBaseUser,
                       reason: str) -> bool:
    """Pause or resume one market everywhere; False if it already was so."""
    return _flag_set(Market, market_id, "enabled", value, user, _require_reason(reason))


def exchange_breaker_reset(*, exchange: Exchange, user: AbstractBaseUser, reason: str) -> bool:
    """Close an exchange's circuit breaker; False if it was closed and clean."""
    reason = _require_reason(reason)
    state = breaker_state(exchange.name)
    if state.state == "closed" and not state.failures:
        return False
    breaker_reset(exchange.name)
    logger.warning("breaker of %s reset by %s (was %s, %d failures): %s", exchange.name,
                   actor(user), state.state, state.failures, reason)
    return True


# --- Orders ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrderOutcome:
    """What one order action did to one order."""

    order_id: int
    client_order_id: str
    before: str
    after: str
    ok: bool
    detail: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _locate(order: Order) -> dict[str, str | None]:
    return {"exchange_order_id": order.exchange_order_id,
            "client_order_id": order.client_order_id, "market": order.market.code}


def _ask(adapter: ExchangeAdapter, order: Order) -> ExchangeOrder:
    """The exchange's report of ``order``: by its ids, or, before its exchange
    id is known, through the searches sync uses (a Nobitex order that is no
    longer open is found only in its order list)."""
    if order.exchange_order_id:
        return adapter.get_order(**_locate(order))
    lookup = orders_lookup(adapter=adapter, exchange=order.exchange, orders=[order],
                           patience=0.0)
    if order.client_order_id in lookup.found:
        return lookup.found[order.client_order_id]
    if order.client_order_id in lookup.not_found:
        raise NotFoundError(order.exchange.name, f"order {order.client_order_id}: no such "
                                                 "order on the exchange")
    raise TransientError(order.exchange.name, f"order {order.client_order_id} could not be "
                         f"looked up: {lookup.errors.get(order.client_order_id, 'no answer')}")


def _refresh(order: Order, source: str) -> tuple[Order, str]:
    """Ask the exchange about the order and apply the answer."""
    adapter = get_adapter(order.exchange)
    report = _ask(adapter, order)
    with transaction.atomic():  # a constraint violation breaks this savepoint only
        order = order_apply_report(order=order, report=report, source=source)
    _, errors = fills_fetch_missing(adapter=adapter, orders=[order])
    return order, "; ".join(errors)


def _orders(order_ids: list[int]) -> list[Order]:
    return list(Order.objects.filter(pk__in=order_ids).select_related("exchange", "market")
                .order_by("pk"))


def _outcome(order: Order, before: str, ok: bool, detail: str) -> OrderOutcome:
    order.refresh_from_db(fields=["status", "filled_quantity"])
    return OrderOutcome(order.pk, order.client_order_id, before, order.status, ok, detail)


def order_cancel(*, order: Order, user: AbstractBaseUser, reason: str) -> OrderOutcome:
    """Ask the order's exchange to cancel it, then read its status back and
    apply it through the state machine. The request itself is recorded first
    (with the reason), so it is on the order's history whatever the exchange says."""
    source, before = actor(user), order.status
    order_note_event(order_id=order.pk, source=source, message=f"cancel requested: {reason}",
                     kind=OrderEventKind.CANCEL_REQUESTED)
    if order.status not in LIVE_STATES:
        return _outcome(order, before, False, f"already {order.status}; nothing to cancel")
    adapter = get_adapter(order.exchange)
    try:
        adapter.cancel_order(**_locate(order))
    except (RejectedError, NotFoundError) as exc:
        # Already final, or never reached it: the status read below says which.
        logger.info("cancel of %s refused by %s: %s", order.client_order_id,
                    order.exchange.name, exc)
    except ExchangeError as exc:
        logger.warning("cancel of %s on %s failed: %s", order.client_order_id,
                       order.exchange.name, exc)
        return _outcome(order, before, False, f"cancel not sent: {exc}")
    try:
        order, errors = _refresh(order, source)
    except ExchangeError as exc:
        return _outcome(order, before, False, f"cancel sent; status not confirmed: {exc}")
    if order.status in LIVE_STATES:
        return _outcome(order, before, True,
                        f"cancel sent; the exchange still says {order.status} "
                        "(sync will confirm)" + (f"; {errors}" if errors else ""))
    return _outcome(order, before, True, f"now {order.status}")


def order_resync(*, order: Order, user: AbstractBaseUser, reason: str) -> OrderOutcome:
    """Read one order from its exchange and apply what it says."""
    source, before = actor(user), order.status
    order_note_event(order_id=order.pk, source=source,
                     message="resync requested" + (f": {reason}" if reason else ""),
                     kind=OrderEventKind.RESYNC_REQUESTED)
    try:
        order, errors = _refresh(order, source)
    except NotFoundError as exc:
        return _outcome(order, before, False, f"the exchange has no such order: {exc}")
    except ExchangeError as exc:
        return _outcome(order, before, False, f"not synced: {exc}")
    return _outcome(order, before, True,
                    (f"{before} → {order.status}" if order.status != before else "unchanged")
                    + (f"; {errors}" if errors else ""))


def _each(order_ids: list[int], user: AbstractBaseUser, doing: str,
          action: Callable[[Order], OrderOutcome]) -> list[OrderOutcome]:
    """``action`` on each order; an unexpected error on one is recorded on it
    (flagged "needs a human") and becomes its outcome: the others go on."""
    outcomes = []
    for order in _orders(order_ids):
        before = order.status
        try:
            outcomes.append(action(order))
        except Exception as exc:  # noqa: BLE001 - recorded on the order, the others go on
            text = order_error(order=order, source=actor(user), doing=doing, error=exc)
            outcomes.append(_outcome(order, before, False,
                                     f"{text}; recorded on the order and flagged "
                                     "\"needs a human\""))
    return outcomes


def orders_cancel(*, order_ids: list[int], user: AbstractBaseUser,
                  reason: str) -> list[OrderOutcome]:
    """Cancel each of the orders on its exchange (``order_cancel``)."""
    reason = _require_reason(reason)
    return _each(order_ids, user, "cancel",
                 lambda order: order_cancel(order=order, user=user, reason=reason))


def orders_resync(*, order_ids: list[int], user: AbstractBaseUser,
                  reason: str = "") -> list[OrderOutcome]:
    """Resync each of the orders from its exchange (``order_resync``)."""
    reason = (reason or "").strip()
    return _each(order_ids, user, "resync",
                 lambda order: order_resync(order=order, user=user, reason=reason))


def orders_mark_checked(*, order_ids: list[int], user: AbstractBaseUser,
                        reason: str) -> list[OrderOutcome]:
    """An operator has looked at each flagged order: clear its "needs a human"
    flag, with an event (``checked``) and the reason."""
    reason = _require_reason(reason)

    def check(order: Order) -> OrderOutcome:
        cleared = order_flag_clear(order_id=order.pk, source=actor(user), reason=reason)
        return _outcome(order, order.status, cleared,
                        "checked: no longer flagged" if cleared else "was not flagged")

    return _each(order_ids, user, "mark checked", check)


def order_resolvable(order: Order) -> bool:
    """An order an operator may settle by hand: one whose status the
    exchange cannot tell (``unknown``), or an external order still live."""
    return order.status == OrderState.UNKNOWN or (order.is_external and order.is_live)


def order_resolution_choices(order: Order) -> list[str]:
    """The statuses a hand resolution may give this order."""
    if not order_resolvable(order):
        return []
    return [s for s in OrderState.values
            if s in ALLOWED_TRANSITIONS[order.status] and s != OrderState.UNKNOWN]


def order_resolve(*, order_id: int, to_status: str, user: AbstractBaseUser, reason: str,
                  filled_quantity: Decimal | None = None,
                  average_price: Decimal | None = None) -> TransitionResult:
    """Settle an unknown or external order by hand, through the state machine.

    Raises ValidationError when the order cannot be resolved so, and
    ``IllegalTransition`` when the state machine refuses.
    """
    reason = _require_reason(reason)
    order = Order.objects.get(pk=order_id)
    if to_status not in order_resolution_choices(order):
        raise ValidationError(
            f"Order {order.client_order_id} ({order.status}) cannot be resolved as {to_status}."
        )
    return order_transition(
        order_id=order.pk, to_status=to_status, source=actor(user), reason=reason,
        filled_quantity=filled_quantity, average_price=average_price,
        payload={"resolved_by_hand": True}, kind=OrderEventKind.RESOLVED_BY_HAND,
    )


# --- Recovery -------------------------------------------------------------------


def _recovery_key(exchange: str) -> str:
    return key("admin", "recovery", exchange)


def recovery_request(*, exchange: Exchange, user: AbstractBaseUser, reason: str,
                     enqueue_recovery: Callable[[str], str]) -> str:
    """Enqueue recovery of one exchange and remember who asked, and why, for
    the control panel. Returns the task id. ``enqueue_recovery(exchange
    name)`` enqueues it and returns the task's id (the control panel passes
    the ``trading.recover_orders`` task's: services never import tasks or
    the Celery app)."""
    reason = _require_reason(reason)
    task_id = enqueue_recovery(exchange.name)
    redis_client().hset(_recovery_key(exchange.name), mapping={
        "task_id": task_id, "requested_by": actor(user), "reason": reason,
        "requested_at": timezone.now().isoformat(),
    })
    redis_client().expire(_recovery_key(exchange.name), RECOVERY_REQUEST_TTL)
    logger.warning("recovery of %s requested by %s: %s", exchange.name, actor(user), reason)
    return task_id


def recovery_last_request(exchange: str) -> dict[str, str]:
    """The last recovery an operator asked for on this exchange ({} if none),
    with the recovery's own summary under ``summary`` once it has run."""
    request = redis_client().hgetall(_recovery_key(exchange)) or {}
    if request:
        summary = recovery_summary(exchange)
        if summary:
            request["summary"] = summary
    return request


def recovery_summary(exchange: str) -> str:
    """The summary the recovery service keeps of its last run on ``exchange``
    ('' if none, or if Redis cannot say: the panel never fails on it)."""
    try:
        return recovery_last_summary(exchange)
    except Exception as exc:
        logger.warning("recovery summary of %s unavailable: %s", exchange, exc)
        return ""
