"""Alerts as data: one active alert per kind and subject, repeats and
reminders, resolved messages, the outbox written with its cause, quiet
hours and minimum severity per channel."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.db import transaction
from freezegun import freeze_time

from trading.alerts.kinds import AlertKind, MessageKind, Severity
from trading.alerts.models import Alert, AlertChannel, AlertDelivery, AlertMessage, MonitorSettings
from trading.alerts.services import alert_raise, alert_resolve, alerts_remind
from trading.models import RiskSettings
from trading.services.risk import kill_switch_set

pytestmark = pytest.mark.django_db


def webhook(name: str = "hook", **kwargs) -> AlertChannel:
    return AlertChannel.objects.create(name=name, kind="webhook", target="http://127.0.0.1:9/x",
                                       secret="s" * 20, **kwargs)


def test_a_repeat_bumps_the_one_open_alert_and_sends_nothing_new():
    channel = webhook()
    first = alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:wallex",
                        title="Books of wallex stale for 60 s")
    again = alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:wallex",
                        title="Books of wallex stale for 90 s")
    other = alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:invex",
                        title="Books of invex stale")

    assert again.pk == first.pk and again.count == 2
    assert again.title == "Books of wallex stale for 90 s"
    assert other.pk != first.pk
    assert AlertMessage.objects.filter(alert=first).count() == 1
    assert AlertDelivery.objects.filter(channel=channel).count() == 2


def test_resolved_sends_a_resolved_message_and_a_new_occurrence_is_a_new_alert():
    webhook()
    first = alert_raise(kind=AlertKind.BREAKER_OPEN, subject="exchange:nobitex", title="open")
    resolved = alert_resolve(kind=AlertKind.BREAKER_OPEN, subject="exchange:nobitex",
                             by="check", reason="breaker closed")
    assert resolved.pk == first.pk
    first.refresh_from_db()
    assert first.state == Alert.State.RESOLVED and first.resolved_by == "check"
    kinds = list(first.messages.order_by("pk").values_list("kind", flat=True))
    assert kinds == [MessageKind.RAISED, MessageKind.RESOLVED]
    assert "[RESOLVED]" in first.messages.get(kind="resolved").text
    # Nothing left to resolve; the next occurrence opens a new alert.
    assert alert_resolve(kind=AlertKind.BREAKER_OPEN, subject="exchange:nobitex",
                         by="check") is None
    assert alert_raise(kind=AlertKind.BREAKER_OPEN, subject="exchange:nobitex",
                       title="open").pk != first.pk


def test_the_alert_rolls_back_with_its_cause():
    # Given a channel, when the kill switch is tripped in a transaction that fails
    webhook()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert kill_switch_set(active=True, reason="test", actor="admin:olga")
        assert Alert.objects.filter(kind=AlertKind.KILL_SWITCH).exists()
        raise RuntimeError("the cause's transaction fails after the trip")
    # Then neither the trip nor its alert, message or delivery exist
    assert not RiskSettings.load().kill_switch
    assert not Alert.objects.exists()
    assert not AlertMessage.objects.exists() and not AlertDelivery.objects.exists()

    # and when it commits, all of them do
    kill_switch_set(active=True, reason="spread data wrong", actor="admin:olga")
    alert = Alert.objects.get(kind=AlertKind.KILL_SWITCH)
    assert alert.severity == Severity.CRITICAL and "admin:olga" in alert.title
    assert AlertDelivery.objects.filter(message__alert=alert).count() == 1

    # A reset whose transaction fails resolves nothing; one that commits resolves it
    with pytest.raises(RuntimeError), transaction.atomic():
        assert kill_switch_set(active=False, reason="checked", actor="admin:olga")
        raise RuntimeError("the reset's transaction fails")
    alert.refresh_from_db()
    assert RiskSettings.load().kill_switch and alert.state == "open"
    assert not alert.messages.filter(kind="resolved").exists()
    kill_switch_set(active=False, reason="checked", actor="admin:olga")
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by == "admin:olga"
    assert alert.messages.get(kind="resolved").deliveries.count() == 1


def test_reminders_go_out_after_the_interval_until_acknowledged(django_user_model):
    from trading.alerts.services import alert_acknowledge

    webhook()
    settings_row = MonitorSettings.load()
    settings_row.reminder_minutes = 30
    settings_row.save()
    with freeze_time("2026-03-01 08:00:00"):
        alert = alert_raise(kind=AlertKind.ORDER_STUCK, subject="order:arb-1", title="stuck")
    with freeze_time("2026-03-01 08:29:59"):
        assert alerts_remind() == 0
        alert_raise(kind=AlertKind.ORDER_STUCK, subject="order:arb-1", title="stuck")
    with freeze_time("2026-03-01 08:30:00"):
        assert alerts_remind() == 1
        assert alerts_remind() == 0  # once per interval, however often the check runs
    with freeze_time("2026-03-01 09:00:01"):
        assert alerts_remind() == 1
    alert.refresh_from_db()
    assert alert.reminders_sent == 2 and alert.count == 2
    reminder = alert.messages.filter(kind=MessageKind.REMINDER).first()
    assert "[REMINDER]" in reminder.text and "seen 2×" in reminder.text

    user = django_user_model.objects.create_user("olga")
    assert alert_acknowledge(alert_id=alert.pk, user=user, reason="looking at it")
    with freeze_time("2026-03-01 12:00:00"):
        assert alerts_remind() == 0


def test_minimum_severity_and_quiet_hours_per_channel(settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    quiet = webhook("quiet", min_severity=Severity.WARNING, quiet_start=time(23, 0),
                    quiet_end=time(7, 0))
    loud = webhook("critical-only", min_severity=Severity.CRITICAL)

    # 01:00 in Tehran (21:30 UTC): inside the quiet hours
    with freeze_time(datetime(2026, 3, 1, 21, 30, tzinfo=UTC)):
        warning = alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:a", title="w")
        critical = alert_raise(kind=AlertKind.EXCHANGE_DOWN, subject="exchange:a", title="c")

    held = AlertDelivery.objects.get(message__alert=warning)
    assert held.channel == quiet
    # held until 07:00 Tehran = 03:30 UTC the next day
    assert held.not_before == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    assert not AlertDelivery.objects.filter(message__alert=warning, channel=loud).exists()
    # critical gets through at once, on both
    deliveries = AlertDelivery.objects.filter(message__alert=critical)
    assert {d.channel for d in deliveries} == {quiet, loud}
    assert all(d.not_before == datetime(2026, 3, 1, 21, 30, tzinfo=UTC) for d in deliveries)
