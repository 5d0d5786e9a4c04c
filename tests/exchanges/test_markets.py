"""Units and precision: the pure rules applied before any order is sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.errors import RejectedError
from exchanges.markets import (
    MarketSpec,
    decimal_str,
    from_exchange_price,
    prepare_order,
    round_amount,
    round_price,
    split_market,
    to_decimal,
    to_exchange_price,
)
from exchanges.types import OrderRequest, OrderType, Side

D = Decimal
WALLEX_BTC = MarketSpec("BTC-IRR", "BTCTMN", D("10"), D("0.000001"), D("10"), D("3000000"))
NOBITEX_BTC = MarketSpec("BTC-IRR", "BTCIRT", D("1"), D("0.000001"), D("10"), D("3000000"))


def request(side=Side.BUY, qty="0.0012345678", price="10000000005", type_=OrderType.LIMIT):
    return OrderRequest("BTC-IRR", side, type_, D(qty), "cid", D(price) if price else None)


def test_amounts_round_down_to_the_step():
    assert round_amount(NOBITEX_BTC, D("0.0012349999")) == D("0.001234")


def test_buy_rounds_down_and_sell_rounds_up_to_the_tick():
    assert round_price(NOBITEX_BTC, D("10000000005"), Side.BUY) == D("10000000000")
    assert round_price(NOBITEX_BTC, D("10000000005"), Side.SELL) == D("10000000010")
    assert round_price(NOBITEX_BTC, D("10000000010"), Side.SELL) == D("10000000010")


def test_toman_conversion_both_ways():
    assert to_exchange_price(WALLEX_BTC, D("13175056980")) == D("1317505698")
    assert from_exchange_price(WALLEX_BTC, "1317505698.00000000") == D("13175056980")


def test_prepare_order_for_wallex_sends_toman():
    prepared = prepare_order("wallex", WALLEX_BTC, request(side=Side.SELL))
    assert prepared.quantity == D("0.001234")
    assert prepared.price == D("10000000010")
    assert decimal_str(prepared.exchange_price) == "1000000001"


def test_minimum_order_value_refused_locally():
    with pytest.raises(RejectedError) as caught:
        prepare_order("nobitex", NOBITEX_BTC, request(qty="0.0002", price="10000000000"))
    assert caught.value.code == "LocalSmallOrder"
    assert caught.value.exchange == "nobitex"
    assert "2000000 IRR is below the minimum 3000000 IRR" in str(caught.value)


def test_quantity_rounding_to_zero_is_refused():
    with pytest.raises(RejectedError, match="rounds to 0"):
        prepare_order("nobitex", NOBITEX_BTC, request(qty="0.0000001"))


def test_market_order_needs_expected_price_for_min_value():
    with pytest.raises(RejectedError, match="expected price"):
        prepare_order("nobitex", NOBITEX_BTC, request(type_=OrderType.MARKET, price=None))
    prepared = prepare_order("nobitex", NOBITEX_BTC, request(type_=OrderType.MARKET))
    assert prepared.price is None and prepared.exchange_price is None


def test_limit_without_price_refused():
    with pytest.raises(RejectedError, match="positive price"):
        prepare_order("nobitex", NOBITEX_BTC, request(price=None))


def test_decimal_parsing_and_text():
    assert to_decimal("0.13471800") == D("0.134718")
    assert to_decimal(2) == D("2")
    assert decimal_str(D("1E+3")) == "1000"
    assert decimal_str(D("0.500")) == "0.5"
    with pytest.raises(ValueError):
        to_decimal("…")
    with pytest.raises(ValueError):
        to_decimal(None)


def test_split_market():
    assert split_market("btc-irr") == ("BTC", "IRR")
    with pytest.raises(ValueError):
        split_market("BTCIRR")
