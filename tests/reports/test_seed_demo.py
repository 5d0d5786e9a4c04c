"""seed_demo: a realistic history whose closed days agree with the live figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F
from freezegun import freeze_time

from trading.models import DailyRiskSnapshot, Opportunity, Order, Trade
from trading.reports import aggregates, selectors
from trading.reports.periods import Period, period_from_params
from trading.reports.tables import money
from trading.services.demo import demo_seed

NOW = "2025-06-01T09:00:00Z"


@pytest.fixture
def seeded(db, tehran_tz):
    with freeze_time(NOW):
        return demo_seed(trades=600, days=30, seed=3)


def test_the_history_is_realistic(seeded):
    assert 600 <= seeded.trades == Trade.objects.count() <= 602
    statuses = dict(Opportunity.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) <= {"done", "partial", "unwound", "failed"} and statuses["done"] > 200
    # Two entry legs on two exchanges; fees in base on buys, in quote on sells.
    assert not Opportunity.objects.filter(buy_exchange=F("sell_exchange")).exists()
    assert Order.objects.filter(purpose="entry").count() == 2 * Opportunity.objects.count()
    for trade in Trade.objects.select_related("market")[:200]:
        assert trade.fee_asset == (trade.market.base if trade.side == "buy"
                                   else trade.market.quote)
    assert {m for m in Trade.objects.values_list("market__quote", flat=True)} == {"IRR", "USDT"}


def test_closed_snapshots_agree_with_the_live_figures(seeded):
    """Every past day is closed, and its snapshot equals the live aggregate."""
    days = list(DailyRiskSnapshot.objects.filter(closed=True).order_by("day"))
    assert len(days) == 30 and days[-1].day == date(2025, 5, 31)
    live = aggregates.live_days([d.day for d in days])
    exact = connection.vendor == "postgresql"  # SQLite keeps 15 significant digits
    for snapshot in days:
        row = live.get(snapshot.day)
        for name in selectors.SNAPSHOT_FIELDS[1:]:
            expected, stored = getattr(row, name) if row else 0, getattr(snapshot, name)
            if not exact and isinstance(stored, Decimal):
                asset = name.rsplit("_", 1)[1].upper()
                expected, stored = money(Decimal(expected), asset), money(stored, asset)
            assert stored == expected, (snapshot.day, name)


def test_the_report_adds_up(seeded):
    with freeze_time(NOW):
        period = period_from_params({"period": "30d"})
        result = selectors.overview(period)
    assert period == Period(date(2025, 5, 3), date(2025, 6, 1), "30d")
    for figures in result.quotes:
        closed = Opportunity.objects.filter(quote_asset=figures.quote,
                                            closed_at__gte=period.start)
        assert money(figures.realized_pnl, figures.quote) == money(
            sum(o.realized_pnl for o in closed), figures.quote)
        assert figures.stats.round_trips == closed.exclude(status="failed").count()
    assert result.trade_count == Trade.objects.filter(executed_at__gte=period.start).count()


def test_closed_days_have_rollups_that_equal_the_live_figures(seeded):
    """Every closed day has its report rollup, and the report read from them
    equals the one computed live (rollups removed)."""
    from trading.models import ReportDay
    from trading.reports.rollups import report_rollups_delete

    assert ReportDay.objects.count() == 30
    exact = connection.vendor == "postgresql"  # SQLite keeps 15 significant digits

    def figures() -> list:
        with freeze_time(NOW):
            period = period_from_params({"period": "30d"})
            result = selectors.overview(period, convert=True)
            markets = selectors.pnl_by_market(period)
            pairs = selectors.pnl_by_pair(period)
        rows = []
        for f in result.quotes:
            s = f.stats
            rows += [f.quote, f.trade_count, s.round_trips, s.wins, s.problems,
                     *[v if exact or v is None else money(v, f.quote)
                       for v in (s.realized_pnl, s.best, s.worst, f.median, f.fees)]]
        rows += [(m.market, m.stats.round_trips, m.stats.wins, m.trades.trade_count,
                  m.trades.fees if exact else money(m.trades.fees, m.quote)) for m in markets]
        rows += [(p.buy_exchange, p.sell_exchange, p.quote, p.stats.round_trips,
                  p.stats.realized_pnl if exact else money(p.stats.realized_pnl, p.quote))
                 for p in pairs]
        rows += [(f.asset, f.quote, f.amount if exact else money(f.amount, f.asset))
                 for f in result.fees_by_asset]
        return rows + [result.conversion and result.conversion.rate]

    from_rollups = figures()
    report_rollups_delete()
    assert figures() == from_rollups


def test_the_command(db, tehran_tz, capsys):
    call_command("seed_demo", "--trades", "50", "--days", "3")
    call_command("seed_demo", "--trades", "50", "--days", "3", "--reset")

    assert 50 <= Trade.objects.count() <= 52
    assert "seeded" in capsys.readouterr().out


def test_its_rows_carry_their_own_moments_all_before_today(seeded):
    """Every row is dated by the history (spread over the past days), never
    by the moment it was written, and nothing lands on today: today's P&L and
    daily loss limit belong to live trading."""
    from datetime import datetime, time

    from trading.tradingday import trading_tz

    today_starts = datetime.combine(date(2025, 6, 1), time.min, tzinfo=trading_tz())
    for model, fields in ((Opportunity, ("created_at", "executed_at", "closed_at")),
                          (Order, ("created_at", "submitted_at", "updated_at",
                                   "last_synced_at")),
                          (Trade, ("created_at", "executed_at"))):
        for name in fields:
            latest = model.objects.order_by(f"-{name}").values_list(name, flat=True)[0]
            assert latest < today_starts, (model.__name__, name, latest)
        days = {moment.date() for moment in model.objects.values_list("created_at", flat=True)}
        assert len(days) >= 25, (model.__name__, len(days))
    assert not DailyRiskSnapshot.objects.filter(day=date(2025, 6, 1)).exists()


@pytest.mark.django_db
def test_it_adds_and_enables_no_market(tehran_tz):
    """Markets and exchanges that exist are used as they are; those missing
    are created disabled, with no listing: nothing new is traded."""
    from exchanges.models import Exchange, ExchangeMarket, Market

    paused = Market.objects.create(base="ETH", quote="IRR", enabled=False)
    live = Exchange.objects.create(name="wallex", adapter="wallex", trading_enabled=False)
    with freeze_time(NOW):
        demo_seed(trades=60, days=3, seed=1)

    paused.refresh_from_db()
    live.refresh_from_db()
    assert not paused.enabled and live.enabled and not live.trading_enabled
    assert not Market.objects.filter(enabled=True).exists()
    assert set(Exchange.objects.filter(enabled=True).values_list("name", flat=True)) == {
        "wallex"}
    assert not ExchangeMarket.objects.exists()
    assert Trade.objects.filter(market=paused).exists()


@pytest.fixture
def trading_now(db, tehran_tz):
    """The system as it trades: a fresh worker heartbeat, the kill switch off,
    exchanges trading."""
    from exchanges.models import Exchange
    from trading.services.heartbeat import heartbeat_record

    for name in ("nobitex", "wallex"):
        Exchange.objects.create(name=name, adapter=name)
    heartbeat_record(role="worker")


def _counts() -> dict[str, int]:
    from exchanges.models import Exchange, ExchangeMarket, Market
    from trading.models import ReportDay

    return {model.__name__: model.objects.count()
            for model in (Opportunity, Order, Trade, DailyRiskSnapshot, ReportDay, Market,
                          Exchange, ExchangeMarket)}


def test_the_command_refuses_while_the_system_trades_and_writes_nothing(trading_now,
                                                                          capsys):
    from django.core.management.base import CommandError

    before = _counts()
    with pytest.raises(CommandError) as refused:
        call_command("seed_demo", "--trades", "50", "--days", "3")
    assert "the system is trading" in str(refused.value)
    assert "worker heartbeat" in str(refused.value) and "kill switch" in str(refused.value)
    assert "Nothing was written" in str(refused.value)
    assert _counts() == before
    with pytest.raises(CommandError):
        call_command("seed_demo", "--trades", "50", "--days", "3", "--reset")
    assert _counts() == before


def test_the_command_seeds_once_trading_is_halted(trading_now):
    from trading.services.risk import kill_switch_set

    kill_switch_set(active=True, reason="demo history", actor="test")
    call_command("seed_demo", "--trades", "50", "--days", "3")
    assert 50 <= Trade.objects.count() <= 52


def test_a_stale_heartbeat_is_not_trading(trading_now):
    from datetime import timedelta

    from django.utils import timezone

    with freeze_time(timezone.now() + timedelta(minutes=2)):
        call_command("seed_demo", "--trades", "50", "--days", "3")
    assert Trade.objects.exists()
