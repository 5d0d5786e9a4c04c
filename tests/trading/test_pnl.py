"""One fee and P&L rule (trading.pnl): settlement, the daily snapshot and
the reports value the same fills alike, whatever the exchange's spelling of
the fee asset."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from freezegun import freeze_time

from exchanges.types import Fill, Side
from tests.factories import make_exchange, make_market, make_opportunity, make_order
from trading.models import Opportunity, Trade
from trading.pnl import fee_value, max_drawdown_intraday, max_drawdown_over_days, realized_pnl
from trading.reports.periods import period_from_params
from trading.reports.selectors import overview
from trading.services.fills import fills_record
from trading.services.snapshots import day_figures
from trading.tradingday import trading_day

D = Decimal


def test_a_fee_is_valued_in_the_quote_by_the_asset_it_is_paid_in():
    common = {"fee": D("2"), "fee_times_price": D("200"), "base": "BTC", "quote": "IRR"}
    assert fee_value(fee_asset="IRR", **common) == D("2")
    assert fee_value(fee_asset="", **common) == D("2")  # unnamed: the quote
    assert fee_value(fee_asset="BTC", **common) == D("200")  # at the fill's price
    assert fee_value(fee_asset="BNB", **common) is None  # left out


def test_the_two_drawdowns_read_different_series():
    round_trips = [D("100"), D("-300"), D("50")]  # one day, in closing order
    assert max_drawdown_intraday(round_trips) == D("300")
    # over days, a day's total is one step: the same day nets to -150
    assert max_drawdown_over_days([sum(round_trips), D("40")]) == D("150")


@pytest.mark.django_db
def test_settlement_snapshot_and_report_count_a_lower_case_fee_asset_alike():
    # Given one opportunity whose buy fill's fee an exchange names "btc"
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    market = make_market("BTC", "IRR")
    nobitex, wallex = make_exchange("nobitex"), make_exchange("wallex")
    opportunity = make_opportunity(market=market, buy=nobitex, sell=wallex,
                                   quantity=D("0.01"), buy_price=D("100"), sell_price=D("110"))
    buy = make_order(exchange=nobitex, market=market, side="buy", quantity=D("0.01"),
                     opportunity=opportunity)
    sell = make_order(exchange=wallex, market=market, side="sell", quantity=D("0.01"),
                      opportunity=opportunity)
    fills_record(order=buy, fills=[Fill("b-1", "BTC-IRR", Side.BUY, D("100"), D("0.01"),
                                        D("0.0001"), "btc", at)])
    fills_record(order=sell, fills=[Fill("s-1", "BTC-IRR", Side.SELL, D("110"), D("0.01"),
                                         D("0.01"), "IRR", at)])

    # When settlement values it and the day is summed
    pnl = realized_pnl(opportunity)
    Opportunity.objects.filter(pk=opportunity.pk).update(status="done", realized_pnl=pnl,
                                                         closed_at=at)
    with freeze_time(at):
        day = trading_day()
        figures = day_figures(day)
        report = overview(period_from_params({"from": str(day), "to": str(day)}))

    # Then the fee is stored in one spelling and every figure agrees
    assert Trade.objects.get(exchange_trade_id="b-1").fee_asset == "BTC"
    fees = D("0.0001") * D("100") + D("0.01")
    assert pnl == D("1.1") - D("1.0") - fees
    assert figures["fees_irr"] == fees
    [irr] = [q for q in report.quotes if q.quote == "IRR"]
    assert irr.fees == fees and irr.realized_pnl == pnl
