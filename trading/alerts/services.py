"""Raising, repeating, reminding, acknowledging and resolving alerts.

Every function writes in the caller's transaction (a savepoint of it), so
an alert whose cause is a database write commits or rolls back with that
cause: the Alert row, its AlertMessage and one AlertDelivery per channel
that takes it are the outbox. Delivery is asked for after commit through
the function the app installs when it is ready (``trading/apps.py``: the
``trading.deliver_alerts`` task's enqueue; services never import tasks or
the Celery app); the periodic sweep delivers anything that request missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from trading.alerts.kinds import (
    DEFAULT_SEVERITY,
    AlertKind,
    MessageKind,
    Severity,
    severity_at_least,
)
from trading.alerts.models import (
    ACTIVE_STATES,
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertMessage,
    AlertState,
    MonitorSettings,
)

logger = logging.getLogger(__name__)

# How to ask a worker to deliver now: installed at app ready (trading/apps.py).
_delivery_request: Callable[[], Any] | None = None


def delivery_request_install(request: Callable[[], Any]) -> None:
    """Set how ``message_write`` asks for a delivery after commit (the app
    passes the ``trading.deliver_alerts`` task's enqueue)."""
    global _delivery_request
    _delivery_request = request


# -- channels and the outbox -------------------------------------------------------------


def _tz():
    from trading.tradingday import trading_tz  # the trading day's zone (TRADING_DAY_TZ)

    return trading_tz()


def quiet_until(channel: AlertChannel, now: datetime) -> datetime | None:
    """The end of the channel's quiet hours if ``now`` falls in them, else None."""
    if channel.quiet_start is None or channel.quiet_end is None:
        return None
    tz = _tz()
    local = now.astimezone(tz)
    start, end, at = channel.quiet_start, channel.quiet_end, local.time()
    inside = (start <= at < end) if start <= end else (at >= start or at < end)
    if not inside:
        return None
    end_day = local.date() if at < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)


def channels_taking(severity: str) -> list[AlertChannel]:
    """The enabled channels whose minimum severity this message reaches."""
    return [c for c in AlertChannel.objects.filter(enabled=True).order_by("pk")
            if severity_at_least(severity, c.min_severity)]


def _kick_delivery() -> None:
    """Ask a worker to deliver now (after commit). A broker that cannot be
    reached loses nothing: the periodic sweep delivers what is pending."""
    if _delivery_request is None:
        logger.warning("alerts: no delivery request installed; the periodic sweep will deliver")
        return
    try:
        _delivery_request()
    except Exception as exc:
        logger.warning("alerts: delivery not requested (%s); the periodic sweep will deliver",
                       exc)


def message_write(*, kind: str, severity: str, title: str, text: str, payload: dict[str, Any],
                  alert: Alert | None = None, now: datetime | None = None,
                  channels: list[AlertChannel] | None = None,
                  every_channel: bool = False, dedupe_key: str | None = None) -> AlertMessage:
    """One outbox message and its deliveries, in the caller's transaction.

    ``channels``: only these (a test alert), ignoring severity and quiet
    hours; otherwise every enabled channel that takes the severity (or
    every enabled one: the daily summary), held until the end of its quiet
    hours unless critical.
    """
    now = now or timezone.now()
    with transaction.atomic():
        message = AlertMessage.objects.create(
            alert=alert, kind=kind, severity=severity, title=title[:250], text=text,
            payload=payload, created_at=now, dedupe_key=dedupe_key)
        if channels is not None:
            targets = channels
        elif every_channel:
            targets = list(AlertChannel.objects.filter(enabled=True).order_by("pk"))
        else:
            targets = channels_taking(severity)
        deliveries = []
        for channel in targets:
            held = None
            if channels is None and severity != Severity.CRITICAL:
                held = quiet_until(channel, now)
            deliveries.append(AlertDelivery(message=message, channel=channel,
                                            not_before=held or now, created_at=now))
        AlertDelivery.objects.bulk_create(deliveries)
        if deliveries:
            transaction.on_commit(_kick_delivery)
    return message


# -- what a message says ------------------------------------------------------------------


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "state": alert.state,
        "subject": alert.subject,
        "exchange": alert.exchange.name if alert.exchange_id else None,
        "market": alert.market.code if alert.market_id else None,
        "order": alert.order.client_order_id if alert.order_id else None,
        "title": alert.title,
        "message": alert.message,
        "count": alert.count,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "details": alert.details,
        "resolved_by": alert.resolved_by or None,
        "resolve_reason": alert.resolve_reason or None,
    }


def alert_text(alert: Alert, kind: str) -> tuple[str, str]:
    """(title, text) of a message about ``alert``."""
    tag = {MessageKind.RAISED: alert.severity.upper(), MessageKind.REMINDER: "REMINDER",
           MessageKind.RESOLVED: "RESOLVED"}.get(kind, kind.upper())
    title = f"[{tag}] {alert.title}"
    lines = [title]
    if kind == MessageKind.RESOLVED:
        lines.append(f"Resolved by {alert.resolved_by or '-'}"
                     + (f": {alert.resolve_reason}" if alert.resolve_reason else "."))
    if alert.message:
        lines.append(alert.message)
    seen = f"seen {alert.count}× since {_when(alert.first_seen_at)}"
    if alert.count > 1:
        seen += f", last {_when(alert.last_seen_at)}"
    lines.append(f"{alert.get_kind_display()} · {alert.subject or 'system'} · {seen}")
    if kind == MessageKind.REMINDER:
        lines.append("Still open: acknowledge it in the admin to stop reminders.")
    return title, "\n".join(lines)


def _alert_message(alert: Alert, kind: str, now: datetime) -> AlertMessage:
    title, text = alert_text(alert, kind)
    return message_write(kind=kind, severity=alert.severity, title=title, text=text,
                         payload={"alert": alert_payload(alert)}, alert=alert, now=now)


# -- raise, repeat, resolve ---------------------------------------------------------------


def _active(kind: str, subject: str, *, lock: bool = False) -> Alert | None:
    rows = Alert.objects.filter(kind=kind, subject=subject, state__in=ACTIVE_STATES)
    if lock:
        rows = rows.select_for_update()
    return rows.first()


def alert_raise(*, kind: str, title: str, subject: str = "", message: str = "",
                severity: str | None = None, details: dict[str, Any] | None = None,
                exchange: Any = None, market: Any = None, order: Any = None,
                now: datetime | None = None) -> Alert:
    """Raise an alert, or repeat the active one of this kind and subject
    (its count and last seen go up, its text and details are refreshed,
    and no new message goes out: reminders do). A new alert sends a
    "raised" message to the channels that take its severity."""
    kind = AlertKind(kind)
    severity = severity or DEFAULT_SEVERITY[kind]
    now = now or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                existing = _active(kind, subject, lock=True)
                if existing is not None:
                    Alert.objects.filter(pk=existing.pk).update(
                        count=F("count") + 1, last_seen_at=now, title=title[:200],
                        message=message, details=details or {}, severity=_higher(
                            existing.severity, severity))
                    existing.refresh_from_db()
                    return existing
                alert = Alert.objects.create(
                    kind=kind, severity=severity, subject=subject, title=title[:200],
                    message=message, details=details or {}, exchange=exchange, market=market,
                    order=order, first_seen_at=now, last_seen_at=now, last_notified_at=now)
                _alert_message(alert, MessageKind.RAISED, now)
            logger.warning("alert raised: [%s] %s (%s %s)", severity, title, kind, subject)
            return alert
        except IntegrityError:
            # Another process raised the same alert at the same moment: repeat it.
            continue
    raise RuntimeError(f"alert {kind} {subject}: could not be raised or repeated")


def _higher(a: str, b: str) -> str:
    return a if severity_at_least(a, b) else b


def alert_resolve(*, kind: str, subject: str = "", by: str, reason: str = "",
                  now: datetime | None = None) -> Alert | None:
    """Resolve the active alert of this kind and subject, if any, and send
    its "resolved" message. Returns it, or None when none was active."""
    now = now or timezone.now()
    if not Alert.objects.filter(kind=kind, subject=subject, state__in=ACTIVE_STATES).exists():
        # The usual case for a check: nothing to resolve, and no write
        # transaction opened for it (SQLite takes its lock at BEGIN).
        return None
    with transaction.atomic():
        alert = _active(kind, subject, lock=True)
        if alert is None:
            return None
        _resolve(alert, by=by, reason=reason, now=now)
    logger.info("alert resolved: %s %s by %s: %s", kind, subject, by, reason)
    return alert


def _resolve(alert: Alert, *, by: str, reason: str, now: datetime) -> None:
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = by[:150]
    alert.resolve_reason = reason
    alert.save(update_fields=["state", "resolved_at", "resolved_by", "resolve_reason"])
    _alert_message(alert, MessageKind.RESOLVED, now)


def alert_condition(*, active: bool, kind: str, subject: str = "", title: str = "",
                    resolved_reason: str = "", by: str = "check", **raise_kwargs: Any
                    ) -> Alert | None:
    """A condition seen by a check: raise (or repeat) while it holds,
    resolve once it no longer does."""
    if active:
        return alert_raise(kind=kind, subject=subject, title=title, **raise_kwargs)
    return alert_resolve(kind=kind, subject=subject, by=by, reason=resolved_reason)


def alerts_active(*, kind: str, subject_prefix: str = "") -> list[Alert]:
    return list(Alert.objects.filter(kind=kind, state__in=ACTIVE_STATES,
                                     subject__startswith=subject_prefix))


# -- reminders ----------------------------------------------------------------------------


def alerts_remind(*, now: datetime | None = None) -> int:
    """A reminder for each open (unacknowledged) alert not sent for the
    configured interval; returns how many went out. A conditional update
    per alert: two processes never remind of one alert twice."""
    now = now or timezone.now()
    minutes = MonitorSettings.load().reminder_minutes
    if not minutes:
        return 0
    due_before = now - timedelta(minutes=minutes)
    sent = 0
    for alert in Alert.objects.filter(state=AlertState.OPEN, last_notified_at__lte=due_before):
        with transaction.atomic():
            if not Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN,
                                        last_notified_at=alert.last_notified_at).update(
                    last_notified_at=now, reminders_sent=F("reminders_sent") + 1):
                continue
            alert.refresh_from_db()
            _alert_message(alert, MessageKind.REMINDER, now)
        sent += 1
    return sent


# -- the operator's actions ---------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    return reason


def alert_acknowledge(*, alert_id: int, user: AbstractBaseUser, reason: str) -> bool:
    """Open → acknowledged (someone is on it: no more reminders). False if
    it was not open."""
    reason = _reason(reason)
    changed = Alert.objects.filter(pk=alert_id, state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_by=user, acknowledged_at=timezone.now(),
        acknowledge_reason=reason)
    if changed:
        logger.warning("alert %s acknowledged by admin:%s: %s", alert_id, user.get_username(),
                       reason)
    return bool(changed)


def alert_resolve_by_hand(*, alert_id: int, user: AbstractBaseUser, reason: str) -> bool:
    """Resolve an active alert by hand (its "resolved" message goes out).
    False if it was already resolved. A condition that still holds is
    raised again by its next check."""
    reason = _reason(reason)
    with transaction.atomic():
        alert = (Alert.objects.select_for_update().filter(pk=alert_id, state__in=ACTIVE_STATES)
                 .first())
        if alert is None:
            return False
        _resolve(alert, by=f"admin:{user.get_username()}", reason=reason, now=timezone.now())
    logger.warning("alert %s resolved by admin:%s: %s", alert_id, user.get_username(), reason)
    return True


@dataclass(frozen=True)
class TestResult:
    channel: str
    ok: bool
    detail: str


def channel_test_send(*, channel_ids: list[int], user: AbstractBaseUser) -> list[TestResult]:
    """Send a test alert through these channels now, by the same delivery
    path as any alert (the delivery and its attempt are kept)."""
    from trading.alerts.delivery import channel_deliver

    channels = list(AlertChannel.objects.filter(pk__in=channel_ids).order_by("pk"))
    now = timezone.now()
    results = []
    for channel in channels:
        text = (f"[TEST] arbsite test alert\nSent by admin:{user.get_username()} at "
                f"{_when(now)} through channel {channel.name}. Nothing is wrong.")
        message = message_write(kind=MessageKind.TEST, severity=Severity.INFO,
                                title="[TEST] arbsite test alert", text=text,
                                payload={"test": True, "requested_by": user.get_username()},
                                channels=[channel], now=now)
        delivery = message.deliveries.get()
        channel_deliver(channel_id=channel.pk, only_ids=[delivery.pk], ignore_backoff=True)
        delivery.refresh_from_db()
        ok = delivery.status == AlertDelivery.Status.SENT
        results.append(TestResult(channel.name, ok, "delivered" if ok else
                                  (delivery.last_error or "not delivered")))
    return results


def quiet_hours_valid(start: time | None, end: time | None) -> None:
    if (start is None) != (end is None):
        raise ValidationError("Quiet hours need both a start and an end (or neither).")
