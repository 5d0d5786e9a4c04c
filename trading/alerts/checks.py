"""The periodic conditions (``trading.check_alerts``, every 15 s on any
worker): breakers open, books stale, exchanges down, orders stuck, daily
loss near its limit, capital over budget, a failed conformance check, an
API key close to expiry; then reminders and the daily
summary. Each check raises while its condition holds and resolves once it
no longer does; one failing check never stops the others.

How long a condition has held is kept in Redis (``since`` keys, set when
first seen, deleted when it ends), so a check that runs on any worker
measures the same duration.

The heartbeats are not here: a dead worker cannot run this task to say so.
See ``trading.alerts.watchdog``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from arbsite.locks import CHECK_ALERTS, redis_lock
from arbsite.redis import key, redis_client
from exchanges.breaker import CLOSED, breaker_state
from exchanges.models import Exchange
from exchanges.states import OrderState
from trading.alerts.kinds import AlertKind, amount_text
from trading.alerts.models import ACTIVE_STATES, Alert, MonitorSettings
from trading.alerts.services import alert_condition, alert_resolve, alerts_remind

logger = logging.getLogger(__name__)

SINCE_TTL = 7 * 24 * 3600


def condition_since(name: str, active: bool, now: datetime) -> datetime | None:
    """Since when this condition has held (first seen now if new); None, and
    forgotten, when it does not hold."""
    client = redis_client()
    since_key = key("alerts", "since", name)
    if not active:
        client.delete(since_key)
        return None
    client.set(since_key, now.isoformat(), nx=True, ex=SINCE_TTL)
    value = client.get(since_key)
    return datetime.fromisoformat(value) if value else now


def condition_held_since(name: str) -> datetime | None:
    """Since when this condition has held as these checks last saw it,
    without recording anything (for readers: the health selector)."""
    value = redis_client().get(key("alerts", "since", name))
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _last_ok(exchange: Exchange, books: dict) -> datetime | None:
    """The newest good book of the exchange, polled or streamed: the poller's
    last success, or the newest book in the store (a streamed exchange is not
    polled while its stream is fresh), as the control panel reads it."""
    value = redis_client().hget(key("exchange", exchange.name, "status"), "last_ok_at")
    try:
        polled = datetime.fromisoformat(value) if value else None
    except ValueError:
        polled = None
    own = [b.fetched_at for (name, _), b in books.items() if name == exchange.name]
    return max([*own, *([polled] if polled else [])], default=None)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _polling_alive_since(now: datetime, settings_row: MonitorSettings) -> datetime | None:
    """Since when beat (which schedules polling) has been seen alive by these
    checks; None while it is missing. A book's age counts only from then: a
    stopped beat ages every book, and that is "beat missing", not every
    exchange down."""
    from trading.services.heartbeat import heartbeat_last

    last = heartbeat_last(role="beat")
    fresh = last is not None and (now - last).total_seconds() <= (
        settings_row.heartbeat_max_age_seconds)
    return condition_since("polling-alive", fresh, now)


def exchanges_check(*, now: datetime, settings_row: MonitorSettings) -> None:
    """Per enabled exchange: breaker open, books stale, exchange down."""
    from trading.services.books import books_latest

    polling_since = _polling_alive_since(now, settings_row)
    books = books_latest()
    for exchange in Exchange.objects.filter(enabled=True).defer("api_key", "api_secret"):
        name = exchange.name
        subject = f"exchange:{name}"
        state = breaker_state(name)
        since = condition_since(f"breaker:{name}", state.state != CLOSED, now)
        held = (now - since).total_seconds() if since else 0
        alert_condition(
            active=since is not None and held >= settings_row.breaker_open_seconds,
            kind=AlertKind.BREAKER_OPEN, subject=subject, exchange=exchange,
            title=f"Circuit breaker of {name} open for {_duration(held)}",
            message=(f"{state.failures} consecutive failures; last: {state.last_error[:300]}"
                     if since else ""),
            details={"state": state.state, "failures": state.failures},
            resolved_reason="breaker closed: calls go through again")

        if polling_since is None:
            continue  # beat is missing: books age for that reason (its own alert)
        last_ok = _last_ok(exchange, books)
        never = condition_since(f"never-ok:{name}", last_ok is None, now)
        unreachable_since = max(last_ok or never, polling_since)
        age = (now - unreachable_since).total_seconds()
        stale = age >= settings_row.books_stale_seconds
        alert_condition(
            active=stale, kind=AlertKind.BOOKS_STALE, subject=subject, exchange=exchange,
            title=f"Books of {name} stale for {_duration(age)}",
            message=(f"Last good book fetch: {last_ok:%Y-%m-%d %H:%M:%S} UTC." if last_ok
                     else "No good book fetch since this was first checked."),
            details={"last_ok_at": last_ok.isoformat() if last_ok else None},
            resolved_reason="books fresh again")
        down = age >= settings_row.exchange_down_minutes * 60
        if down or not stale:
            alert_condition(
                active=down, kind=AlertKind.EXCHANGE_DOWN, subject=subject, exchange=exchange,
                title=f"{name} is down: unreachable for {_duration(age)}",
                message=(f"Exchange-down mode: no new opportunities on {name}; its capital is "
                         "shown at risk on the control panel."),
                details={"last_ok_at": last_ok.isoformat() if last_ok else None},
                resolved_reason=f"{name} answers again: exchange-down mode ended")
    # An exchange disabled by an operator is not "down".
    for alert in Alert.objects.filter(kind__in=(AlertKind.EXCHANGE_DOWN, AlertKind.BOOKS_STALE,
                                                AlertKind.BREAKER_OPEN),
                                      state__in=ACTIVE_STATES, exchange__enabled=False):
        alert_resolve(kind=alert.kind, subject=alert.subject, by="check",
                      reason="exchange disabled by an operator")


def orders_stuck(*, now: datetime, settings_row: MonitorSettings) -> list:
    """Orders ``unknown`` or ``pending_submit`` for at least the configured
    minutes, each annotated with ``since`` (when it entered that state),
    oldest first: the condition of ``orders_check`` and of the health page."""
    from django.db.models import OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from trading.models import Order, OrderEvent

    stuck_states = (OrderState.UNKNOWN, OrderState.PENDING_SUBMIT)
    cutoff = now - timedelta(minutes=settings_row.order_stuck_minutes)
    entered = Subquery(OrderEvent.objects.filter(order=OuterRef("pk"), to_status=OuterRef("status"))
                       .order_by("created_at").values("created_at")[:1])
    return list(Order.objects.filter(status__in=stuck_states)
                .annotate(since=Coalesce(entered, "created_at")).filter(since__lte=cutoff)
                .select_related("exchange", "market").order_by("since", "pk"))


def orders_check(*, now: datetime, settings_row: MonitorSettings) -> None:
    """Orders ``unknown`` or ``pending_submit`` for longer than N minutes."""
    from trading.models import Order

    stuck = {o.client_order_id: o for o in orders_stuck(now=now, settings_row=settings_row)}
    for coid, order in stuck.items():
        minutes = (now - order.since).total_seconds() / 60
        alert_condition(
            active=True, kind=AlertKind.ORDER_STUCK, subject=f"order:{coid}", order=order,
            exchange=order.exchange, market=order.market,
            title=f"Order {coid} {order.status} for {minutes:.0f} min on {order.exchange.name}",
            message=(f"{order.side} {amount_text(order.quantity, order.market.base)} at "
                     + (amount_text(order.price, order.market.quote) if order.price is not None
                        else "market")
                     + f"; {order.status_reason[:300] or 'no reason recorded'}. Sync and "
                     "recovery look it up by client order id; resolve it by hand if they "
                     "cannot."),
            details={"status": order.status, "since": order.since.isoformat()})
    for alert in Alert.objects.filter(kind=AlertKind.ORDER_STUCK, state__in=ACTIVE_STATES):
        coid = alert.subject.removeprefix("order:")
        if coid not in stuck:
            status = (Order.objects.filter(client_order_id=coid).values_list("status", flat=True)
                      .first())
            alert_resolve(kind=alert.kind, subject=alert.subject, by="check",
                          reason=f"order now {status or 'gone'}")


def _daily_loss(*, now: datetime, settings_row: MonitorSettings) -> None:
    from trading.services.risk import daily_loss_warn

    daily_loss_warn(at=now)


def _budgets(*, now: datetime, settings_row: MonitorSettings) -> None:
    from trading.services.budgets import budgets_check

    budgets_check(now=now)


def keys_and_conformance_check(*, now: datetime, settings_row: MonitorSettings) -> None:
    """Per enabled exchange: its conformance check failed (at its current base
    URL), and its API key close to expiry where the exchange says when keys
    expire (Wallex: 90 days). Both read the exchange row; nothing is asked of
    the exchange here."""
    from exchanges.conformance.gate import FAILED, conformance_state
    from exchanges.credentials import api_key_expiry
    from trading.alerts.hooks import api_key_expiry_seen, conformance_result

    for exchange in Exchange.objects.filter(enabled=True):
        state = conformance_state(exchange)
        failed = (state.point or "").strip().splitlines()
        conformance_result(exchange=exchange, ok=state.state != FAILED,
                           detail=(f"The last conformance check failed: {failed[0]}"
                                   + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
                                   + f". Run manage.py exchange {exchange.name} conformance "
                                   "again once the cause is fixed." if failed else ""))
        api_key_expiry_seen(exchange=exchange, expires_at=api_key_expiry(exchange).expires_at,
                            now=now)


def _reminders(*, now: datetime, settings_row: MonitorSettings) -> None:
    alerts_remind(now=now)


def _summary(*, now: datetime, settings_row: MonitorSettings) -> None:
    from trading.alerts.summary import daily_summary_due

    daily_summary_due(now=now)


CHECKS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("exchanges", exchanges_check),
    ("orders", orders_check),
    ("daily loss", _daily_loss),
    ("budgets", _budgets),
    ("keys and conformance", keys_and_conformance_check),
    ("reminders", _reminders),
    ("daily summary", _summary),
)


def checks_run(*, now: datetime | None = None) -> dict[str, str]:
    """Every check once; returns the ones that failed, with why. One run at a
    time across processes (``arbsite.locks.CHECK_ALERTS``): a run that finds
    another going does nothing."""
    with redis_lock(CHECK_ALERTS) as acquired:
        if not acquired:
            logger.info("alerts: checks already running elsewhere; skipped")
            return {}
        now = now or timezone.now()
        settings_row = MonitorSettings.load()
        failed: dict[str, str] = {}
        for name, check in CHECKS:
            try:
                check(now=now, settings_row=settings_row)
            except Exception as exc:
                logger.exception("alerts: check %s failed", name)
                failed[name] = f"{type(exc).__name__}: {exc}"
        return failed
