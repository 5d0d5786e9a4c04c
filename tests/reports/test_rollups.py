"""Report rollups: closed days read from them add up to the live figures,
a day closing writes its rows once, and days split at midnight in Tehran."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from freezegun import freeze_time

from tests.reports.conftest import NOW
from trading.models import (
    DailyRiskSnapshot,
    OpportunityRollup,
    ReportDay,
    TradeRollup,
)
from trading.reports import aggregates, selectors
from trading.reports.periods import Period
from trading.reports.rollups import report_rollup_write, report_rollups_backfill
from trading.services.snapshots import snapshot_refresh

D = Decimal
PERIOD = Period(date(2025, 3, 7), date(2025, 3, 10))


def _rows(model) -> list[tuple]:
    fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
    return sorted(tuple(str(v) for v in row)
                  for row in model.objects.order_by().values_list(*fields))


def _everything(period: Period) -> tuple:
    """Every figure the pages show for ``period``, as comparable values."""
    with freeze_time(NOW):
        data = selectors.overview(period, convert=True)
        markets = selectors.pnl_by_market(period)
        pairs = selectors.pnl_by_pair(period)
    return (data.quotes, data.fees_by_asset, data.problems, data.trade_count,
            [(m.market, m.stats, m.trades) for m in markets], data.conversion,
            [(p.buy_exchange, p.sell_exchange, p.quote, p.stats) for p in pairs])


@pytest.mark.parametrize("rolled", [(7, 8, 9), (7, 9), (9,)])
def test_closed_days_from_the_rollup_equal_the_live_computation(history, closed_snapshots,
                                                                  rolled):
    # Given the figures computed live (snapshots only, no rollups)
    live = _everything(PERIOD)
    one_day = _everything(Period(date(2025, 3, 9), date(2025, 3, 9)))

    # When closed days get their rollups (all, or with a gap read live)
    for day in rolled:
        report_rollup_write(day=date(2025, 3, day))

    # Then every figure is the same, over the period and over one closed day
    with freeze_time(NOW):
        assert aggregates.rolled_days(PERIOD) == {date(2025, 3, day) for day in rolled}
    assert _everything(PERIOD) == live
    assert _everything(Period(date(2025, 3, 9), date(2025, 3, 9))) == one_day


def test_the_rollup_is_the_source_of_closed_days(history, closed_rollups):
    # A changed rollup row shows: the page read it, not the opportunities.
    row = OpportunityRollup.objects.get(day=date(2025, 3, 9), quote_asset="USDT")
    OpportunityRollup.objects.filter(pk=row.pk).update(best=D("99"), wins=0)
    TradeRollup.objects.filter(day=date(2025, 3, 9), fee_asset="USDT").update(fee=D("1"))
    with freeze_time(NOW):
        result = selectors.overview(Period(date(2025, 3, 9), date(2025, 3, 9)))

    usdt = next(f for f in result.quotes if f.quote == "USDT")
    assert (usdt.stats.best, usdt.stats.wins) == (D("99"), 0)
    fees = {(f.asset, f.quote): f.amount for f in result.fees_by_asset}
    assert fees[("USDT", "USDT")] == D("1")


def test_the_rollup_of_a_day_holds_its_hand_computed_groups(history):
    # 03-09 Tehran: O1 (BTC-IRR nobitex→wallex, +7,960,000) and O5 (BTC-USDT,
    # +21.45). O2 closed at 00:10 on 03-10 Tehran (still 03-09 in UTC) is not
    # in it; O7, closed 23:59 on 03-07 Tehran, is in 03-07's.
    with freeze_time(NOW):
        report_rollup_write(day=date(2025, 3, 9))
        report_rollup_write(day=date(2025, 3, 10))
        report_rollup_write(day=date(2025, 3, 7))

    nine = {(r.quote_asset, r.status): r for r in OpportunityRollup.objects.filter(
        day=date(2025, 3, 9))}
    assert set(nine) == {("IRR", "done"), ("USDT", "done")}
    irr = nine[("IRR", "done")]
    assert (irr.count, irr.wins, irr.realized_pnl, irr.best, irr.worst) == (
        1, 1, D("7960000"), D("7960000"), D("7960000"))
    ten = OpportunityRollup.objects.filter(day=date(2025, 3, 10))
    assert sorted((r.status, r.count, r.realized_pnl) for r in ten) == [
        ("done", 1, D("-8495000")),  # O2, on wallex→nobitex
        ("done", 1, D("139000")),  # O6
        ("failed", 1, D("0")),  # O4
        ("unwound", 1, D("-8008000")),  # O3
    ]
    assert [r.realized_pnl for r in OpportunityRollup.objects.filter(
        day=date(2025, 3, 7))] == [D("1000000")]  # O7
    # Fills of 03-09: BTC-IRR fees 0.001 BTC (worth 6,000,000 at the fill price)
    # and 6,040,000 IRR; BTC-USDT 0.0002 BTC (19 USDT) and 9.55 USDT.
    fills = {(r.market.code, r.fee_asset): r for r in TradeRollup.objects.filter(
        day=date(2025, 3, 9)).select_related("market")}
    assert set(fills) == {("BTC-IRR", "BTC"), ("BTC-IRR", "IRR"), ("BTC-USDT", "BTC"),
                          ("BTC-USDT", "USDT")}
    btc_fee = fills[("BTC-IRR", "BTC")]
    assert (btc_fee.count, btc_fee.fee, btc_fee.fee_times_price, btc_fee.volume,
            btc_fee.quantity) == (1, D("0.001"), D("6000000"), D("3000000000"), D("0.5"))
    assert (fills[("BTC-USDT", "USDT")].fee, fills[("BTC-USDT", "BTC")].fee_times_price) == (
        D("9.55"), D("19"))
    assert ReportDay.objects.get(day=date(2025, 3, 9)).timezone == "Asia/Tehran"


def test_writing_a_day_again_replaces_its_rows(history, closed_rollups):
    before = _rows(OpportunityRollup), _rows(TradeRollup)
    report_rollup_write(day=date(2025, 3, 9))
    report_rollup_write(day=date(2025, 3, 9))

    assert (_rows(OpportunityRollup), _rows(TradeRollup)) == before
    assert ReportDay.objects.count() == 3
    assert report_rollups_backfill() == 0  # every closed day has its rollup


def test_a_day_closing_writes_its_rollup_once(history, monkeypatch):
    # Given 03-09's snapshot refreshed during the day (open)
    with freeze_time(datetime(2025, 3, 9, 18, 0, tzinfo=UTC)):
        snapshot_refresh()
    assert not ReportDay.objects.exists()

    # When the day is over: the first refresh closes it with its rollup
    calls = []
    from trading.reports import rollups

    write = rollups.report_rollup_write
    monkeypatch.setattr("trading.services.snapshots.report_rollup_write",
                        lambda *, day: calls.append(day) or write(day=day))
    with freeze_time(NOW):
        snapshot_refresh()
        rows = _rows(OpportunityRollup), _rows(TradeRollup)
        snapshot_refresh()  # later refreshes leave the closed day alone

    # Then it was written once, and holds 03-09 in Tehran
    assert calls == [date(2025, 3, 9)]
    assert DailyRiskSnapshot.objects.get(day=date(2025, 3, 9)).closed
    assert list(ReportDay.objects.values_list("day", flat=True)) == [date(2025, 3, 9)]
    assert (_rows(OpportunityRollup), _rows(TradeRollup)) == rows
    assert OpportunityRollup.objects.filter(day=date(2025, 3, 9)).count() == 2  # O1, O5
    assert sum(TradeRollup.objects.values_list("count", flat=True)) == 4


def test_backfill_writes_closed_days_without_a_rollup(history, closed_snapshots):
    assert report_rollups_backfill() == 3
    assert report_rollups_backfill() == 0
    assert sorted(ReportDay.objects.values_list("day", flat=True)) == [
        date(2025, 3, 7), date(2025, 3, 8), date(2025, 3, 9)]


def test_rollups_of_another_trading_time_zone_are_not_used(history, closed_rollups, settings):
    # Written for Tehran; read with UTC days they would split days wrongly.
    settings.TRADING_DAY_TZ = "UTC"
    with freeze_time(NOW):
        assert aggregates.rolled_days(PERIOD) == set()
        irr = next(f for f in selectors.overview(PERIOD).quotes if f.quote == "IRR")
    # 03-07 … 03-10 UTC: O7 (03-07 20:29 UTC) and every later one.
    assert irr.stats.round_trips == 5


def test_the_median_stays_exact_with_a_stale_count(history, closed_rollups):
    # A rollup count above the real one (rows deleted after the close):
    # the median counts again rather than read past the end.
    OpportunityRollup.objects.filter(day=date(2025, 3, 9), quote_asset="USDT").update(count=5)
    with freeze_time(NOW):
        medians = selectors.median_pnl(PERIOD, {"USDT": 5, "IRR": 5})
    assert medians == {"USDT": D("21.45"), "IRR": D("139000")}


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_the_median_of_odd_and_even_counts(history, n):
    # IRR round trips in P&L order over 03-07 … 03-10: −8,495,000, −8,008,000,
    # 139,000, 1,000,000, 7,960,000.
    from trading.models import Opportunity

    keep = list(Opportunity.objects.filter(quote_asset="IRR").exclude(status="failed")
                .order_by("realized_pnl").values_list("pk", flat=True))[:n]
    Opportunity.objects.filter(quote_asset="IRR").exclude(pk__in=keep).update(
        realized_pnl=None)
    with freeze_time(NOW):
        medians = selectors.median_pnl(PERIOD)
    assert medians["IRR"] == {1: D("-8495000"), 2: D("-8251500"), 3: D("-8008000"),
                              4: D("-3934500")}[n]
