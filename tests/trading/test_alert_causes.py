"""Each alert kind raised by its real cause, through the real services,
against the sandbox over HTTP (the exchanges are the only thing imitated)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from freezegun import freeze_time

from exchanges.breaker import breaker_reset
from exchanges.models import Exchange, Market
from exchanges.states import OrderState
from tests.factories import make_opportunity
from trading.alerts.checks import checks_run
from trading.alerts.kinds import AlertKind
from trading.alerts.models import Alert, AlertChannel
from trading.models import Opportunity, RiskSettings
from trading.services.execution import opportunity_execute
from trading.services.polling import orderbooks_poll
from trading.services.recovery import orders_recover
from trading.services.sync import orders_sync

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")


def _no_detection() -> None:
    """Polls here only fetch books; detection, when a test wants it, is called."""


def active(kind: str, subject: str | None = None) -> Alert | None:
    rows = Alert.objects.filter(kind=kind, state__in=("open", "acknowledged"))
    if subject is not None:
        rows = rows.filter(subject=subject)
    return rows.first()


@pytest.fixture
def channel(db):
    return AlertChannel.objects.create(name="hook", kind="webhook", min_severity="info",
                                       target="http://127.0.0.1:9/", secret="s" * 20)


def _unwinding_opportunity():
    # A sell limit so far above Wallex's market that Wallex refuses it: the
    # buy on Nobitex fills alone and is unwound at a loss (test_execution).
    btc = Market.objects.get(base="BTC", quote="IRR")
    return make_opportunity(market=btc, buy=Exchange.objects.get(name="nobitex"),
                            sell=Exchange.objects.get(name="wallex"), quantity=QTY,
                            buy_price=NOBITEX_ASK, sell_price=Decimal("150000000000"))


def test_unwinds_raise_their_cost_then_the_daily_loss_warning_then_the_kill_switch(
        trading_setup, channel):
    risk = RiskSettings.load()
    risk.max_daily_loss_irr = Decimal("7000000")
    risk.save()

    # When one opportunity is unwound at a loss of 5,800,000 rial (83% of the limit)
    first = _unwinding_opportunity()
    opportunity_execute(opportunity_id=first.pk)
    first.refresh_from_db()
    assert first.status == Opportunity.Status.UNWOUND

    # Then the unwind is an alert with its cost, and the loss is at 80%+
    unwind = active(AlertKind.UNWIND_EXECUTED, f"opportunity:{first.pk}")
    assert unwind is not None and "cost 5,800,000 IRR" in unwind.title
    assert "sell 0.01 BTC of 0.01 BTC on nobitex" in unwind.message
    warning = active(AlertKind.DAILY_LOSS_WARNING, "quote:IRR")
    assert warning.severity == "warning" and "83%" in warning.title
    assert not RiskSettings.load().kill_switch

    # When a second one takes the loss past the limit
    second = _unwinding_opportunity()
    opportunity_execute(opportunity_id=second.pk)

    # Then risk trips the kill switch: a critical alert; the warning turns critical
    assert RiskSettings.load().kill_switch
    kill = active(AlertKind.KILL_SWITCH, "")
    assert kill.severity == "critical" and "by risk" in kill.title
    assert "daily loss limit breached" in kill.message
    assert active(AlertKind.DAILY_LOSS_WARNING, "quote:IRR").severity == "critical"
    assert active(AlertKind.UNWIND_EXECUTED, f"opportunity:{second.pk}") is not None


def test_the_unwind_alert_is_written_with_the_settlement(trading_setup, channel, monkeypatch):
    from trading.alerts.models import AlertMessage
    from trading.services import settlement
    from trading.services.settlement import opportunity_reconcile

    # When settlement fails inside its transaction, after the unwind alert was written
    real_alert = settlement.unwind_closed

    def alert_then_fail(**kwargs):
        real_alert(**kwargs)
        assert Alert.objects.filter(kind=AlertKind.UNWIND_EXECUTED).exists()
        raise RuntimeError("the worker dies before the settlement commits")

    monkeypatch.setattr(settlement, "unwind_closed", alert_then_fail)
    opp = _unwinding_opportunity()
    # (execution records the error and leaves the opportunity for sync to settle)
    result = opportunity_execute(opportunity_id=opp.pk)
    assert result.detail == "not settled: RuntimeError"

    # Then the opportunity is still executing and no alert nor message exists
    opp.refresh_from_db()
    assert opp.status == Opportunity.Status.EXECUTING and opp.realized_pnl is None
    assert not Alert.objects.exists() and not AlertMessage.objects.exists()

    # When the next reconciliation settles it, the alert comes with it, once
    monkeypatch.setattr(settlement, "unwind_closed", real_alert)
    assert opportunity_reconcile(opportunity_id=opp.pk, source="sync").status == "unwound"
    assert opportunity_reconcile(opportunity_id=opp.pk, source="sync").action == "nothing"
    alert = Alert.objects.get(kind=AlertKind.UNWIND_EXECUTED)
    assert alert.subject == f"opportunity:{opp.pk}" and alert.count == 1
    assert "cost 5,800,000 IRR" in alert.title
    assert alert.messages.get().kind == "raised"


def test_an_operator_trips_and_resets_the_kill_switch(db, channel, django_user_model):
    from trading.services.control import kill_switch_change

    user = django_user_model.objects.create_user("olga")
    kill_switch_change(active=True, user=user, reason="spreads look wrong")
    alert = active(AlertKind.KILL_SWITCH)
    assert alert.title == "Kill switch tripped by admin:olga"
    kill_switch_change(active=False, user=user, reason="checked, all fine")
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by == "admin:olga"
    assert alert.messages.filter(kind="resolved").exists()


def _others_fresh(at):
    """What beat and polling record meanwhile for the exchanges that still answer."""
    from trading.alerts.watchdog import beat_heartbeat_record
    from trading.services.polling import exchange_status_record

    with freeze_time(at):
        beat_heartbeat_record()
        for name in ("nobitex", "wallex"):
            exchange_status_record(name, ok=True)


def test_a_stopped_beat_is_not_every_exchange_down(trading_setup, channel):
    # Given books fetched, then beat stopped (no polling, no beat heartbeat)
    orderbooks_poll(request_detection=_no_detection)
    _others_fresh(timezone.now())
    checks_run(now=timezone.now())
    later = timezone.now() + timedelta(minutes=15)
    checks_run(now=later)
    assert not Alert.objects.filter(kind__in=(AlertKind.BOOKS_STALE,
                                              AlertKind.EXCHANGE_DOWN)).exists()
    # When beat is back, the books' age counts from then: nothing until polling lags
    with freeze_time(later):
        from trading.alerts.watchdog import beat_heartbeat_record

        beat_heartbeat_record()
    checks_run(now=later)
    assert not Alert.objects.filter(kind__in=(AlertKind.BOOKS_STALE,
                                              AlertKind.EXCHANGE_DOWN)).exists()


def test_an_exchange_that_stops_answering_opens_its_breaker_then_goes_down(trading_setup,
                                                                          channel):
    from trading.services.budgets import exchange_capital, exchanges_down
    from trading.services.polling import balances_refresh

    sandbox = trading_setup
    orderbooks_poll(request_detection=_no_detection)
    balances_refresh()
    # Given invex stops answering
    sandbox.set_faults("invex:down=1")
    for _ in range(3):
        orderbooks_poll(request_detection=_no_detection)
    now = timezone.now()
    _others_fresh(now)
    checks_run(now=now)
    assert active(AlertKind.BREAKER_OPEN) is None  # not yet for N seconds

    # Two minutes on (polling kept the two others fresh): breaker open and
    # books stale, not yet down
    _others_fresh(now + timedelta(seconds=130))
    checks_run(now=now + timedelta(seconds=130))
    breaker = active(AlertKind.BREAKER_OPEN, "exchange:invex")
    assert breaker is not None and "open for 2 min" in breaker.title
    assert active(AlertKind.BOOKS_STALE, "exchange:invex") is not None
    assert active(AlertKind.EXCHANGE_DOWN) is None
    assert active(AlertKind.BOOKS_STALE, "exchange:nobitex") is None

    # Eleven minutes on: exchange-down mode; its capital shown at risk
    _others_fresh(now + timedelta(minutes=11))
    checks_run(now=now + timedelta(minutes=11))
    down = active(AlertKind.EXCHANGE_DOWN, "exchange:invex")
    assert down.severity == "critical" and "invex is down" in down.title
    assert exchanges_down() == {"invex"}
    invex = next(c for c in exchange_capital() if c.exchange == "invex")
    assert invex.down and invex.at_risk_irr > 0 and invex.held_source == "balances"
    nobitex = next(c for c in exchange_capital() if c.exchange == "nobitex")
    assert not nobitex.down and nobitex.at_risk_irr is None

    # When it answers again (an operator resets the breaker), everything resolves
    sandbox.clear_faults()
    breaker_reset("invex")
    orderbooks_poll(request_detection=_no_detection)
    _others_fresh(timezone.now())
    checks_run(now=timezone.now())
    for kind in (AlertKind.EXCHANGE_DOWN, AlertKind.BOOKS_STALE, AlertKind.BREAKER_OPEN):
        assert active(kind, "exchange:invex") is None, kind
    down.refresh_from_db()
    assert down.state == "resolved" and "exchange-down mode ended" in down.resolve_reason
    assert exchanges_down() == set()


def test_an_order_left_unknown_is_an_alert_until_sync_settles_it(trading_setup, channel):
    sandbox = trading_setup
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])
    sandbox.set_faults("wallex:lost_answer=1")
    btc = Market.objects.get(base="BTC", quote="IRR")
    opp = make_opportunity(market=btc, buy=Exchange.objects.get(name="nobitex"),
                           sell=Exchange.objects.get(name="wallex"), quantity=QTY,
                           buy_price=NOBITEX_ASK, sell_price=Decimal("101000000000"))
    opportunity_execute(opportunity_id=opp.pk)
    sell = opp.orders.get(side="sell")
    assert sell.status == OrderState.UNKNOWN

    checks_run(now=timezone.now() + timedelta(minutes=4))
    assert active(AlertKind.ORDER_STUCK) is None
    checks_run(now=timezone.now() + timedelta(minutes=6))
    stuck = active(AlertKind.ORDER_STUCK, f"order:{sell.client_order_id}")
    assert stuck is not None and "unknown for 6 min on wallex" in stuck.title
    assert stuck.order_id == sell.pk

    sandbox.clear_faults()
    orders_sync()
    checks_run(now=timezone.now())
    stuck.refresh_from_db()
    assert stuck.state == "resolved" and stuck.resolve_reason == "order now filled"


def test_recovery_that_cannot_reach_an_exchange_is_incomplete(trading_setup, channel):
    sandbox = trading_setup
    sandbox.set_faults("nobitex:down=1")
    report = orders_recover(wait_grace=False)
    assert not report.complete
    alert = active(AlertKind.RECOVERY_INCOMPLETE)
    assert alert.subject == "exchange:nobitex" and alert.exchange.name == "nobitex"
    assert alert.title == "Recovery incomplete: nobitex" and "--exchange nobitex" in alert.message
    assert Alert.objects.filter(kind=AlertKind.RECOVERY_INCOMPLETE).count() == 1

    # Recovering another exchange resolves nothing of Nobitex's
    assert orders_recover(exchange_names=["wallex"], wait_grace=False).complete
    alert.refresh_from_db()
    assert alert.state == "open"

    sandbox.clear_faults()
    breaker_reset("nobitex")
    assert orders_recover(exchange_names=["nobitex"], wait_grace=False).complete
    alert.refresh_from_db()
    assert alert.state == "resolved" and "recovery of nobitex completed" in alert.resolve_reason


def test_missing_heartbeats_are_raised_by_the_other_process(db, channel):
    from trading.alerts.watchdog import beat_heartbeat_record, heartbeat_watch
    from trading.services.heartbeat import heartbeat_record

    with freeze_time("2026-05-01 10:00:00"):
        heartbeat_record(role="worker")
        beat_heartbeat_record()
        assert not heartbeat_watch(role="worker", watcher="beat", deliver=False)
        assert not heartbeat_watch(role="beat", watcher="worker:w1", deliver=False)
    with freeze_time("2026-05-01 10:01:30"):
        assert heartbeat_watch(role="worker", watcher="beat", deliver=False)
        assert heartbeat_watch(role="beat", watcher="worker:w1", deliver=False)
    worker = active(AlertKind.WORKER_MISSING, "process:worker")
    beat = active(AlertKind.BEAT_MISSING, "process:beat")
    assert worker.severity == beat.severity == "critical"
    assert worker.details["seen_by"] == "beat" and "90 s" in worker.title
    with freeze_time("2026-05-01 10:01:40"):
        heartbeat_record(role="worker")
        heartbeat_watch(role="worker", watcher="beat", deliver=False)
    worker.refresh_from_db()
    assert worker.state == "resolved"


def test_conformance_and_api_key_expiry_have_their_alerts(db, channel):
    from tests.factories import make_exchange
    from trading.alerts.hooks import api_key_expiry_seen, conformance_result

    wallex = make_exchange("wallex")
    conformance_result(exchange=wallex, ok=False, detail="GET /v1/depth: quantity missing")
    assert active(AlertKind.CONFORMANCE_FAILING, "exchange:wallex").severity == "critical"
    conformance_result(exchange=wallex, ok=True)
    assert active(AlertKind.CONFORMANCE_FAILING) is None

    now = timezone.now()
    api_key_expiry_seen(exchange=wallex, expires_at=now + timedelta(days=30), now=now)
    assert active(AlertKind.API_KEY_EXPIRY) is None
    api_key_expiry_seen(exchange=wallex, expires_at=now + timedelta(days=10), now=now)
    alert = active(AlertKind.API_KEY_EXPIRY, "exchange:wallex")
    assert alert.severity == "warning" and "expires in 10 days" in alert.title


def test_the_periodic_check_raises_a_failed_conformance_and_a_key_near_expiry(db, channel):
    # The real causes, as the conformance command and the admin leave them on
    # the row: a check failed at the exchange's own URL; a Wallex key entered
    # 85 days ago (Wallex keys expire within 90).
    from exchanges.credentials import api_key_fingerprint
    from tests.factories import make_exchange
    from trading.alerts.checks import checks_run

    wallex = make_exchange("wallex")
    now = timezone.now()
    Exchange.objects.filter(pk=wallex.pk).update(
        base_url="https://api.wallex.ir", api_key="k" * 40,
        api_key_fingerprint=api_key_fingerprint("k" * 40),
        api_key_entered_at=now - timedelta(days=85),
        conformance_state=Exchange.Conformance.FAILED, conformance_checked_at=now,
        conformance_base_url="https://api.wallex.ir",
        conformance_failed="client id rule: a strict id was refused\nbalance value: missing")

    assert checks_run(now=now) == {}

    failing = active(AlertKind.CONFORMANCE_FAILING, "exchange:wallex")
    assert "client id rule" in failing.message and "(and 1 more)" in failing.message
    expiry = active(AlertKind.API_KEY_EXPIRY, "exchange:wallex")
    assert "expires in 5 days" in expiry.title

    Exchange.objects.filter(pk=wallex.pk).update(conformance_state=Exchange.Conformance.PASSED)
    checks_run(now=now)
    assert active(AlertKind.CONFORMANCE_FAILING) is None


def test_healthz_raises_both_when_worker_and_beat_are_gone(db, channel, client):
    import time as clock

    from trading.alerts.watchdog import beat_heartbeat_record
    from trading.services.heartbeat import heartbeat_record

    with freeze_time(timezone.now() - timedelta(minutes=5)):
        heartbeat_record(role="worker")
        beat_heartbeat_record()
    assert client.get("/healthz").status_code == 503
    deadline = clock.monotonic() + 10
    while clock.monotonic() < deadline and Alert.objects.filter(
            kind__in=("worker_missing", "beat_missing")).count() < 2:
        clock.sleep(0.1)
    seen_by = {a.kind: a.details["seen_by"] for a in Alert.objects.all()}
    assert seen_by == {"worker_missing": "web", "beat_missing": "web"}

