"""Every report figure against the hand-computed history of conftest.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from freezegun import freeze_time

from tests.reports.conftest import NOW
from trading.reports import selectors
from trading.reports.periods import Period, period_from_params

D = Decimal
PERIOD = Period(date(2025, 3, 8), date(2025, 3, 10))


def figures(overview, quote):
    return next(f for f in overview.quotes if f.quote == quote)


@pytest.fixture(params=["live", "snapshots", "rollups"])
def data(request, history):
    """The same figures whether past days come from closed snapshots (with or
    without their report rollup) or live."""
    if request.param == "snapshots":
        request.getfixturevalue("closed_snapshots")
    if request.param == "rollups":
        request.getfixturevalue("closed_rollups")
    with freeze_time(NOW):
        yield request.param


def test_by_day_splits_at_midnight_in_tehran(data):
    days = {row.day: row for row in selectors.pnl_by_day(PERIOD)}

    assert list(days) == [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]
    assert days[date(2025, 3, 8)].realized_pnl_irr == 0
    assert days[date(2025, 3, 8)].trade_count == 0
    nine, ten = days[date(2025, 3, 9)], days[date(2025, 3, 10)]
    assert nine.source == ("live" if data == "live" else "snapshot")
    assert ten.source == "live"  # today is always live
    assert (nine.realized_pnl_irr, nine.fees_irr, nine.volume_irr) == (
        D("7960000"), D("12040000"), D("6020000000"))
    assert (nine.realized_pnl_usdt, nine.fees_usdt, nine.volume_usdt) == (
        D("21.45"), D("28.55"), D("19050"))
    assert (nine.trade_count, nine.round_trips) == (4, 2)
    # O2 closed at 00:10 Tehran, still 03-09 in UTC: it belongs to 03-10.
    assert (ten.realized_pnl_irr, ten.fees_irr, ten.volume_irr) == (
        D("-16364000"), D("18364000"), D("9182000000"))
    assert (ten.realized_pnl_usdt, ten.fees_usdt, ten.volume_usdt) == (0, 0, 0)
    assert (ten.trade_count, ten.round_trips) == (7, 3)


def test_overview_figures(data):
    result = selectors.overview(PERIOD)
    irr, usdt = figures(result, "IRR"), figures(result, "USDT")

    assert irr.realized_pnl == D("-8404000")  # O7 (03-07 23:59 Tehran) is outside
    assert irr.fees == D("30404000")
    assert irr.volume == D("15202000000")
    assert irr.trade_count == 9
    assert irr.stats.round_trips == 4 and irr.stats.wins == 2
    assert irr.stats.win_rate == D("50.00")
    assert irr.stats.average == D("-2101000")
    assert irr.median == D("-3934500")  # (−8,008,000 + 139,000) / 2
    assert (irr.stats.best, irr.stats.worst) == (D("7960000"), D("-8495000"))
    # Cumulative by day: 0, +7,960,000, −8,404,000.
    assert irr.max_drawdown_over_days == D("16364000")

    assert usdt.realized_pnl == D("21.45")
    assert usdt.fees == D("28.55")
    assert usdt.volume == D("19050")
    assert usdt.stats.round_trips == 1 and usdt.stats.win_rate == D("100.00")
    assert usdt.median == usdt.stats.best == usdt.stats.worst == D("21.45")
    assert usdt.max_drawdown_over_days == 0
    assert result.trade_count == 11


def test_fees_per_asset_value_base_fees_at_the_fill_price(data):
    fees = {(f.asset, f.quote): (f.amount, f.value)
            for f in selectors.overview(PERIOD).fees_by_asset}

    assert fees == {
        ("BTC", "IRR"): (D("0.0025"), D("15000000")),
        ("IRR", "IRR"): (D("15224000"), D("15224000")),
        ("USDT", "IRR"): (D("0.2"), D("180000")),
        ("BTC", "USDT"): (D("0.0002"), D("19")),
        ("USDT", "USDT"): (D("9.55"), D("9.55")),
    }
    assert sum(v for (_, q), (_, v) in fees.items() if q == "IRR") == D("30404000")


def test_unwound_and_failed_opportunities_and_their_cost(data):
    problems = {(p.status, p.quote): (p.count, p.realized_pnl)
                for p in selectors.overview(PERIOD).problems}

    assert problems == {("unwound", "IRR"): (1, D("-8008000")), ("failed", "IRR"): (1, D("0"))}


def test_by_market(data):
    rows = {r.market: r for r in selectors.pnl_by_market(PERIOD)}

    btc = rows["BTC-IRR"]
    assert (btc.stats.round_trips, btc.stats.wins, btc.stats.realized_pnl) == (
        3, 1, D("-8543000"))
    assert btc.stats.win_rate == D("33.33")
    assert (btc.stats.best, btc.stats.worst) == (D("7960000"), D("-8495000"))
    assert (btc.stats.problems, btc.stats.problems_pnl) == (2, D("-8008000"))
    assert (btc.trades.trade_count, btc.trades.volume, btc.trades.fees) == (
        7, D("15021500000"), D("30043000"))
    usdt_irr = rows["USDT-IRR"]
    assert (usdt_irr.stats.realized_pnl, usdt_irr.trades.volume, usdt_irr.trades.fees) == (
        D("139000"), D("180500000"), D("361000"))
    btc_usdt = rows["BTC-USDT"]
    assert (btc_usdt.quote, btc_usdt.stats.realized_pnl, btc_usdt.trades.fees) == (
        "USDT", D("21.45"), D("28.55"))
    assert "market__id__exact=" in btc.admin_url


def test_by_exchange_pair_and_direction(data):
    rows = {(r.buy_exchange, r.sell_exchange, r.quote): r.stats
            for r in selectors.pnl_by_pair(PERIOD)}

    assert set(rows) == {("nobitex", "wallex", "IRR"), ("wallex", "nobitex", "IRR"),
                         ("nobitex", "wallex", "USDT")}
    forward, back = rows[("nobitex", "wallex", "IRR")], rows[("wallex", "nobitex", "IRR")]
    assert (forward.closed, forward.round_trips, forward.wins, forward.realized_pnl) == (
        3, 2, 1, D("-48000"))
    assert (back.round_trips, back.wins, back.realized_pnl) == (2, 1, D("-8356000"))
    assert rows[("nobitex", "wallex", "USDT")].realized_pnl == D("21.45")


def test_conversion_only_with_a_recorded_rate(data):
    plain = selectors.overview(PERIOD)
    converted = selectors.overview(PERIOD, convert=True)

    assert plain.conversion is None and plain.combined_pnl_irr is None
    assert converted.conversion.rate == D("902500")  # VWAP of the two USDT-IRR fills
    assert converted.combined_pnl_irr == D("-8404000") + D("21.45") * D("902500")


def test_an_empty_period(history):
    empty = Period(date(2025, 1, 1), date(2025, 1, 5))
    with freeze_time(NOW):
        result = selectors.overview(empty, convert=True)

    assert len(result.days) == 5 and all(d.trade_count == 0 for d in result.days)
    for f in result.quotes:
        assert f.realized_pnl == f.fees == f.volume == f.max_drawdown_over_days == 0
        assert f.stats.round_trips == 0
        assert f.stats.win_rate is f.stats.average is f.median is f.stats.best is None
    assert result.fees_by_asset == result.problems == result.markets == []
    assert result.conversion is None


def test_today_in_tehran_just_after_midnight(history):
    # 00:20 Tehran on 03-10 is 20:50 UTC on 03-09: "today" is 03-10 in Tehran, and
    # holds O2 (closed 20:40 UTC on 03-09) with the rest of 03-10.
    with freeze_time("2025-03-09T20:50:00Z"):
        period = period_from_params({"period": "today"})
        result = selectors.overview(period)

    assert period == Period(date(2025, 3, 10), date(2025, 3, 10), "today")
    irr = figures(result, "IRR")
    assert (irr.realized_pnl, irr.trade_count, irr.stats.round_trips) == (D("-16364000"), 7, 3)
    with freeze_time("2025-03-09T20:50:00Z"):
        yesterday = selectors.overview(period_from_params(
            {"period": "custom", "from": "2025-03-09", "to": "2025-03-09"}))
    assert figures(yesterday, "IRR").realized_pnl == D("7960000")  # without O2


def test_snapshots_are_the_source_of_closed_days(history, closed_snapshots):
    from trading.models import DailyRiskSnapshot

    DailyRiskSnapshot.objects.filter(day=date(2025, 3, 9)).update(realized_pnl_irr=D("1"))
    with freeze_time(NOW):
        days = {row.day: row for row in selectors.pnl_by_day(PERIOD)}

    assert days[date(2025, 3, 9)].realized_pnl_irr == D("1")


def test_snapshots_equal_day_figures_for_the_fixture(history, closed_snapshots):
    """Closed-day figures and the live ones agree (the report may use either)."""
    from trading.reports.aggregates import live_days as _live_days

    with freeze_time(NOW):
        live = _live_days([date(2025, 3, 9)])[date(2025, 3, 9)]
    from trading.models import DailyRiskSnapshot

    snap = DailyRiskSnapshot.objects.get(day=date(2025, 3, 9))
    for name in selectors.SNAPSHOT_FIELDS[1:]:
        assert getattr(live, name) == getattr(snap, name), name
