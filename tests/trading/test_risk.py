"""Risk limits hold across restarts (they are read from the database) and
the trading day rolls over at midnight in Tehran."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from freezegun import freeze_time

from tests.factories import make_exchange, make_market, make_opportunity
from trading.models import DailyRiskSnapshot, Opportunity, RiskSettings
from trading.services.risk import (
    daily_loss_enforce,
    kill_switch_set,
    realized_pnl_today,
    risk_check,
    risk_read,
)
from trading.services.snapshots import snapshot_refresh
from trading.tradingday import trading_day

pytestmark = pytest.mark.django_db


def blocked_in(quote: str) -> str | None:
    """Why no order may be sent in ``quote``, as detection and execution read it."""
    return risk_check(quote_assets=[quote]).blocked.get(quote)


def closed_opportunity(pnl: str, closed_at: datetime, quote: str = "IRR") -> Opportunity:
    market = make_market("BTC", quote)
    opp = make_opportunity(market=market, buy=make_exchange("nobitex"),
                           sell=make_exchange("wallex"), quantity=Decimal("0.01"),
                           buy_price=Decimal("100"), sell_price=Decimal("101"))
    Opportunity.objects.filter(pk=opp.pk).update(status="done", realized_pnl=Decimal(pnl),
                                                 closed_at=closed_at)
    return opp


@pytest.fixture
def limit_10m_rial():
    row = RiskSettings.load()
    row.max_daily_loss_irr = Decimal("10000000")
    row.save()
    return row


def test_the_daily_loss_limit_holds_across_a_restart(limit_10m_rial):
    # Given today's closed opportunities lost 12,000,000 rial
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with freeze_time(now):
        closed_opportunity("-7000000", now)
        closed_opportunity("-5000000", now)
        closed_opportunity("1000", now, quote="USDT")  # another currency: apart

        # When the process restarts (nothing kept in memory: read it again)
        assert realized_pnl_today() == {"IRR": Decimal("-12000000"), "USDT": Decimal("1000")}
        blocker = blocked_in("IRR")

        # Then trading in rial stays blocked, and enforcing trips the kill switch
        assert blocker and "daily loss limit" in blocker
        assert blocked_in("USDT") is None
        reason = daily_loss_enforce()
    row = RiskSettings.load()
    assert row.kill_switch and row.kill_switch_set_by == "risk"
    assert reason == row.kill_switch_reason and "IRR" in reason


def test_the_trading_day_rolls_over_at_midnight_in_tehran(limit_10m_rial):
    # 20:29 UTC is 23:59 in Tehran (UTC+3:30); 20:31 UTC is 00:01 the next day.
    before_midnight = datetime(2026, 11, 24, 20, 29, tzinfo=UTC)
    after_midnight = datetime(2026, 11, 24, 20, 31, tzinfo=UTC)
    closed_opportunity("-15000000", before_midnight)
    with freeze_time(before_midnight):
        assert str(trading_day()) == "2026-11-24"
        assert blocked_in("IRR") is not None
        snapshot_refresh()
    with freeze_time(after_midnight):
        assert str(trading_day()) == "2026-11-25"
        assert realized_pnl_today() == {}
        assert blocked_in("IRR") is None
        today = snapshot_refresh()
    yesterday = DailyRiskSnapshot.objects.get(day="2026-11-24")
    assert yesterday.closed and yesterday.realized_pnl_irr == Decimal("-15000000")
    assert str(today.day) == "2026-11-25" and not today.closed
    assert today.realized_pnl_irr == 0


def test_the_kill_switch_is_a_compare_and_set():
    assert kill_switch_set(active=True, reason="first", actor="alice")
    assert not kill_switch_set(active=True, reason="second", actor="bob")
    row = RiskSettings.load()
    assert (row.kill_switch_reason, row.kill_switch_set_by) == ("first", "alice")
    assert blocked_in("IRR") == "kill switch on: first"


def test_snapshot_drawdown_is_the_worst_fall_from_a_peak(limit_10m_rial):
    now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    for minute, pnl in enumerate(["100", "-300", "50", "-20", "400"]):
        closed_opportunity(pnl, now.replace(minute=minute))
    with freeze_time(now.replace(minute=30)):
        snapshot = snapshot_refresh()
    assert snapshot.realized_pnl_irr == Decimal("230")
    assert snapshot.max_drawdown_irr == Decimal("300")  # from +100 down to -200
    assert snapshot.round_trips == 5


def test_snapshot_fees_are_valued_as_settlement_values_them():
    from tests.factories import make_order, make_trade
    from trading.services.snapshots import day_figures

    now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    market = make_market("BTC", "IRR")
    order = make_order(market=market, quantity=Decimal("3"))
    # in the base asset: valued at the fill's price; in the quote, or unnamed: as is
    make_trade(order=order, price=Decimal("1000"), quantity=Decimal("1"),
               quote_amount=Decimal("1000"), fee=Decimal("0.002"), fee_asset="BTC",
               executed_at=now)
    make_trade(order=order, price=Decimal("1000"), quantity=Decimal("1"),
               quote_amount=Decimal("1000"), fee=Decimal("3"), fee_asset="IRR", executed_at=now)
    make_trade(order=order, price=Decimal("1000"), quantity=Decimal("1"),
               quote_amount=Decimal("1000"), fee=Decimal("5"), fee_asset="", executed_at=now)
    figures = day_figures(trading_day(now))
    assert figures["fees_irr"] == Decimal("10")  # 2 + 3 + 5
    assert figures["volume_irr"] == Decimal("3000") and figures["trade_count"] == 3


def test_one_query_reads_the_settings_and_todays_pnl_as_the_separate_reads_do(
        limit_10m_rial, django_assert_num_queries):
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with freeze_time(now):
        closed_opportunity("-7000000", now)
        closed_opportunity("-5000000.25", now)
        closed_opportunity("1000", now, quote="USDT")
        closed_opportunity("-99", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # yesterday
        kill_switch_set(active=True, reason="checking", actor="test")

        with django_assert_num_queries(1):
            row, pnl = risk_read(quote_assets=["IRR", "USDT", "EUR"])

        assert pnl == {"IRR": Decimal("-12000000.25"), "USDT": Decimal("1000")}
        assert pnl == realized_pnl_today()
        assert row.kill_switch and row.kill_switch_reason == "checking"
        assert row.max_daily_loss_irr == Decimal("10000000")


def test_the_risk_read_creates_the_settings_row_when_missing():
    RiskSettings.objects.all().delete()

    row, pnl = risk_read(quote_assets=["IRR"])

    assert pnl == {}
    assert row.pk == RiskSettings.SINGLETON_ID and RiskSettings.objects.count() == 1
