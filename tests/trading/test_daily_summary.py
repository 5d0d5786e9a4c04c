"""The daily summary goes out once at the close of the trading day:
midnight in Asia/Tehran (20:30 UTC), with the day's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from freezegun import freeze_time

from tests.factories import make_exchange, make_market, make_opportunity, make_order, make_trade
from trading.alerts.checks import checks_run
from trading.alerts.delivery import deliveries_send
from trading.alerts.kinds import AlertKind
from trading.alerts.models import AlertChannel, AlertMessage
from trading.alerts.services import alert_raise
from trading.services.snapshots import snapshot_refresh

pytestmark = pytest.mark.django_db


def test_the_summary_of_a_tehran_day_goes_out_once_just_after_its_midnight(settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    AlertChannel.objects.create(name="mail", kind="email", target="ops@example.com",
                                min_severity="critical")
    nobitex, wallex = make_exchange("nobitex"), make_exchange("wallex")
    btc = make_market("BTC", "IRR")
    # 23:00 Tehran on 1 March (19:30 UTC): a round trip closes with +3,059,000 rial
    with freeze_time(datetime(2026, 3, 1, 19, 30, tzinfo=UTC)):
        opp = make_opportunity(market=btc, buy=nobitex, sell=wallex, quantity=Decimal("0.01"),
                               buy_price=Decimal("100040000000"),
                               sell_price=Decimal("101000000000"), status="done",
                               realized_pnl=Decimal("3059000"),
                               closed_at=datetime(2026, 3, 1, 19, 30, tzinfo=UTC))
        order = make_order(exchange=wallex, market=btc, side="sell", quantity=Decimal("0.01"),
                           opportunity=opp, status="filled", filled_quantity=Decimal("0.01"))
        make_trade(order=order, price=Decimal("101000000000"), quantity=Decimal("0.01"),
                   fee=Decimal("4040000"), fee_asset="IRR",
                   executed_at=datetime(2026, 3, 1, 19, 30, tzinfo=UTC))
        snapshot_refresh()
        alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:invex",
                    title="Books of invex stale for 2 min")

    # 23:59:59 Tehran: the day is not over
    with freeze_time(datetime(2026, 3, 1, 20, 29, 59, tzinfo=UTC)):
        checks_run()
    assert not AlertMessage.objects.filter(kind="summary").exists()

    # 00:00:00 Tehran on 2 March: its summary, once however often the check runs
    with freeze_time(datetime(2026, 3, 1, 20, 30, 0, tzinfo=UTC)):
        checks_run()
        checks_run()
    summary = AlertMessage.objects.get(kind="summary")
    assert summary.dedupe_key == "summary:2026-03-01"
    assert summary.title == "Daily summary 2026-03-01 (Asia/Tehran)"
    figures = summary.payload["summary"]
    assert Decimal(figures["realized_pnl_irr"]) == Decimal("3059000")
    assert Decimal(figures["fees_irr"]) == Decimal("4040000")
    assert figures["round_trips"] == 1 and figures["unwinds"] == 0
    assert [a["title"] for a in figures["open_alerts"]] == ["Books of invex stale for 2 min"]
    assert "P&L IRR: 3,059,000" in summary.text and "Open alerts: 1" in summary.text
    # to every channel, whatever its minimum severity
    from django.core import mail

    assert deliveries_send().sent == 1
    assert mail.outbox[0].subject == "arbsite: Daily summary 2026-03-01 (Asia/Tehran)"
