"""What an operator reads about orders and opportunities (trading.display):
each figure at its listing's step or tick with its unit, exchanges by name,
the reasons settlement writes, and the decision record as tables."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from exchanges.models import ExchangeMarket
from tests.factories import make_exchange, make_market, make_opportunity, make_order
from trading import display
from trading.models import Opportunity, Order
from trading.services.orders import order_transition, orders_write
from trading.services.settlement import opportunity_reconcile

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def listed():
    """nobitex and wallex list BTC-IRR: amounts to 0.000001 BTC, prices to 10 rial."""
    display.display_cache_clear()
    market = make_market("BTC", "IRR")
    nobitex = make_exchange("nobitex", taker_fee=D("0.0025"))
    wallex = make_exchange("wallex", taker_fee=D("0.004"))
    for exchange, symbol in ((nobitex, "BTCIRT"), (wallex, "BTCTMN")):
        ExchangeMarket.objects.create(exchange=exchange, market=market, symbol=symbol,
                                      amount_step=D("0.000001"), price_tick=D("10"))
    yield market, nobitex, wallex
    display.display_cache_clear()


def test_an_order_reads_at_its_listings_step_and_tick(listed):
    market, nobitex, _ = listed
    order = make_order(exchange=nobitex, market=market, side="sell",
                       quantity=D("0.000995000000000000"),
                       price=D("100436611800.000000000000000000"),
                       filled_quantity=D("0.000995"), average_price=D("100436611803.4"),
                       fee=D("399737.714964"), fee_asset="IRR")

    assert display.order_quantity(order) == "0.000995 BTC"
    assert display.order_price(order) == "100,436,611,800 rial"
    assert display.order_average(order) == "100,436,611,803 rial"
    assert display.order_fee(order) == "399,738 rial"
    assert display.order_title(order) == "sell 0.000995 BTC on nobitex at 100,436,611,800 rial"


def test_an_order_without_a_listing_falls_back_on_its_assets(db):
    display.display_cache_clear()
    order = make_order(exchange=make_exchange("invex"), market=make_market("ETH", "USDT"),
                       quantity=D("1.5"), price=D("3412.5"))
    assert display.order_quantity(order) == "1.50000000 ETH"
    assert display.order_price(order) == "3,412.5000 USDT"


def test_old_reasons_get_their_exchanges_names_and_readable_figures(listed):
    _, nobitex, wallex = listed
    old = (f"sell on {wallex.pk}: cancelled; buy on {nobitex.pk}: cancelled; residual "
           "-0.028550000000000000 ETH could not be unwound: needs a human")

    assert display.reason_readable(old) == (
        "sell on wallex: cancelled; buy on nobitex: cancelled; residual -0.02855 ETH could "
        "not be unwound: needs a human")
    assert display.reason_readable("kill switch on: arb-0f3a 3 orders") == (
        "kill switch on: arb-0f3a 3 orders")  # nothing else is touched


def _leg(opportunity, exchange, side, price):
    [order] = orders_write(orders=[Order(
        opportunity=opportunity, exchange=exchange, market=opportunity.market,
        client_order_id=f"arb-{side}-{exchange.name}", purpose=Order.Purpose.ENTRY, side=side,
        quantity=opportunity.quantity, price=price)], source="test")
    return order


def test_settlement_writes_what_became_of_each_leg_in_words(listed):
    market, nobitex, wallex = listed
    opportunity = make_opportunity(market=market, buy=nobitex, sell=wallex,
                                   quantity=D("0.001"), buy_price=D("3500000000"),
                                   sell_price=D("3527783820"),
                                   status=Opportunity.Status.EXECUTING)
    buy = _leg(opportunity, nobitex, "buy", D("3500000000"))
    sell = _leg(opportunity, wallex, "sell", D("3527783820"))
    order_transition(order_id=buy.pk, to_status="rejected", source="test",
                     reason="nobitex: insufficient balance")
    order_transition(order_id=sell.pk, to_status="open", source="test")
    order_transition(order_id=sell.pk, to_status="cancelled", source="test")

    opportunity_reconcile(opportunity_id=opportunity.pk, source="test")

    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.FAILED
    assert re.fullmatch(
        r"buy on nobitex: rejected: nobitex: insufficient balance; "
        r"sell on wallex: cancelled, not filled at 3,527,783,820 rial within [\d,]+ ms",
        opportunity.reason), opportunity.reason


def test_a_leg_cancelled_after_a_partial_fill_says_how_much(listed):
    market, _, wallex = listed
    order = make_order(exchange=wallex, market=market, side="sell", quantity=D("0.001"),
                       price=D("3527783820"), status="cancelled",
                       filled_quantity=D("0.0004"))
    assert display.leg_outcome(order, rested_ms=120.4) == (
        "sell on wallex: cancelled after 0.000400 BTC of 0.001000 BTC filled at "
        "3,527,783,820 rial within 120 ms")


DETAILS = {
    "formula": "profit = sum(bid*amount)*(1-sell_fee) - sum(ask*amount)*(1+buy_fee)",
    "buy_levels": [["99319622570", "0.0005"], ["99328110380", "0.000495"]],
    "sell_levels": [["100436611800", "0.000995"]],
    "best_ask": "99319622570", "best_bid": "100436611800",
    "uncapped": {"quantity": "0.5625", "profit": "141397022.974", "buy_limit": "99528110380",
                 "sell_limit": "100225610520", "ask_levels": 8, "bid_levels": 8},
    "caps": {"balance_quote": "0.5625", "balance_base": "2.002938288",
             "max_order_value_buy": "0.001006850382758155", "max_order_value_sell":
             "0.000995652862116959"},
    "caps_applied": ["max_order_value_buy", "max_order_value_sell"],
    "binding_cap": "max_order_value_sell",
    "balances": {"buy": {"exchange": "nobitex", "asset": "IRR", "available": "101397690258.3",
                         "cached": "101397690258.3", "fetched_at": "2026-12-01T09:11:21+00:00"},
                 "sell": {"exchange": "wallex", "asset": "BTC", "available": "2.002938288",
                          "cached": "2.002938288", "fetched_at": "2026-12-01T09:11:21+00:00"}},
    "max_order_value": "100000000", "exposure_room": None, "amount_step": "0.000001",
    "min_order_value": {"buy": "3000000", "sell": "3000000"},
    "min_profit": {"pct": "0.1", "abs": "100000"}, "buy_cost": "99070082.018292875",
    "books_fetched_at": {"buy": "2026-12-01T09:11:35.085066+00:00",
                         "sell": "2026-12-01T09:11:35.085066+00:00"},
    "max_book_age_ms": 3000,
    "outbid": [{"buy": "invex", "sell": "wallex", "quantity": "0.000995",
                "expected_profit": "257368.05"}],
}


def test_the_decision_record_reads_as_tables(listed, settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    market, nobitex, wallex = listed
    opportunity = make_opportunity(market=market, buy=nobitex, sell=wallex,
                                   quantity=D("0.000995"), buy_price=D("99328110380"),
                                   sell_price=D("100436611800"), details=DETAILS,
                                   expected_profit=D("464609.0077"),
                                   expected_profit_pct=D("0.468970"))

    decision = display.opportunity_decision(opportunity)

    buy, sell = decision.sides
    assert buy.title == "Buy on nobitex: asks taken"
    assert [(row.price, row.amount) for row in buy.levels] == [
        ("99,319,622,570 rial", "0.000500 BTC"), ("99,328,110,380 rial", "0.000495 BTC")]
    assert buy.total_amount == "0.000995 BTC" and sell.title == "Sell on wallex: bids taken"
    caps = {cap.name: cap for cap in decision.caps}
    assert caps["max order value sell"].binding and caps["max order value sell"].allows == (
        "0.000996 BTC")
    assert caps["max order value buy"].applied and not caps["max order value buy"].binding
    assert caps["books"].allows == "0.562500 BTC" and not caps["books"].binding
    assert caps["amount step"].allows == "0.000995 BTC"
    assert "available 101,397,690,258 rial" in caps["balance quote"].note
    checks = dict(decision.checks)
    assert checks["Expected profit, after both taker fees"] == (
        "464,609 rial (0.47%); minimum 0.10% and 100,000 rial")
    assert checks["Taker fees"] == "buy 0.25% on nobitex, sell 0.4% on wallex"
    assert "12:41:35.085 Tehran" in checks["Books read"]
    assert decision.outbid == [("invex → wallex", "0.000995 BTC", "257,368 rial")]


def test_an_opportunity_without_a_record_has_no_decision(listed):
    market, nobitex, wallex = listed
    opportunity = make_opportunity(market=market, buy=nobitex, sell=wallex, quantity=D("1"),
                                   buy_price=D("1"), sell_price=D("2"))
    assert display.opportunity_decision(opportunity) is None


def test_detections_figures_read_with_units():
    example = {"market": "BTC-IRR", "figures": {
        "expected_profit": "330400.47034586", "best_profit": "402457.17401946",
        "best_pair": "wallex->invex", "quantity": "0.000995", "buy_age_ms": "4200",
        "profit_pct": "0.0812"}}
    assert display.rejection_figures(example) == (
        "expected profit 330,400 rial; best profit 402,457 rial; best pair wallex → invex; "
        "quantity 0.000995 BTC; buy age 4,200 ms; profit 0.08%")


def test_a_client_order_id_is_cut_to_what_tells_orders_apart():
    assert display.client_id_short("WE_01JBV8Q3KX7M2C9HFD5T1N6ARZ") == "WE_…5T1N6ARZ"
    assert display.client_id_short("arb-b2181f1b8c544895a48235bd8f7d") == "arb-…35bd8f7d"
    assert display.client_id_short("test-000001") == "test-000001"


def test_a_fresh_read_is_not_repeated_for_a_key_it_lacks(listed, django_assert_num_queries):
    _, nobitex, _ = listed
    assert display.exchange_name(nobitex.pk) == "nobitex"  # read now
    with django_assert_num_queries(0):  # the read a moment ago is the truth
        assert display.exchange_name(99999) == "exchange #99999"


def test_a_row_created_since_the_names_were_read_is_named(listed, django_assert_num_queries,
                                                         monkeypatch):
    monkeypatch.setattr(display, "FRESH_READ_SECONDS", 0.0)
    _, nobitex, _ = listed
    assert display.exchange_name(nobitex.pk) == "nobitex"  # read now
    invex = make_exchange("invex")
    assert display.exchange_name(invex.pk) == "invex"  # not in them: read again
    with django_assert_num_queries(3):  # once for an id that does not exist, then never
        assert display.exchange_name(99999) == "exchange #99999"
        assert display.exchange_name(99999) == "exchange #99999"
