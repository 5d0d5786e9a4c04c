"""Rules the database itself enforces, whatever code writes the rows."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests.factories import make_exchange, make_market, make_order, make_trade
from trading.models import Order, RiskSettings

pytestmark = pytest.mark.django_db


def _refused(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_client_order_id_is_unique():
    make_order(client_order_id="dup-1")
    _refused(lambda: make_order(client_order_id="dup-1"))


def test_exchange_order_id_is_unique_per_exchange_once_set():
    nobitex, wallex = make_exchange("nobitex"), make_exchange("wallex")
    make_order(exchange=nobitex, exchange_order_id="123")
    make_order(exchange=wallex, exchange_order_id="123")  # another exchange: fine
    make_order(exchange=nobitex)  # many orders without an id yet: fine
    make_order(exchange=nobitex)
    _refused(lambda: make_order(exchange=nobitex, exchange_order_id="123"))


def test_trade_id_is_unique_per_exchange():
    order = make_order()
    make_trade(order=order, exchange_trade_id="T1")
    _refused(lambda: make_trade(order=order, exchange_trade_id="T1"))


@pytest.mark.parametrize("field", ["quantity", "price", "fee"])
def test_negative_amounts_are_refused(field):
    _refused(lambda: make_order(**{field: Decimal("-1")}))


def test_fill_cannot_exceed_the_order():
    _refused(lambda: make_order(quantity=Decimal("1"), filled_quantity=Decimal("2")))


def test_status_outside_the_allowed_set_is_refused():
    order = make_order()
    _refused(lambda: Order.objects.filter(pk=order.pk).update(status="done"))


def test_trade_quantity_must_be_positive():
    order = make_order()
    _refused(lambda: make_trade(order=order, quantity=Decimal("0")))


def test_risk_settings_is_one_row():
    RiskSettings.load()
    _refused(lambda: RiskSettings.objects.create(id=2))


def test_amounts_keep_18_decimals_and_rial_prices_above_10_to_the_12(postgres_only):
    price = Decimal("123456789012345.123456789012345678")
    order = make_order(market=make_market("BTC", "IRR"), quantity=Decimal("0.000000000000000001"),
                       price=price)
    order.refresh_from_db()
    assert order.price == price
    assert order.quantity == Decimal("0.000000000000000001")


def test_one_opportunity_in_flight_per_market_and_direction():
    from tests.factories import make_opportunity

    market, a, b = make_market("BTC", "IRR"), make_exchange("nobitex"), make_exchange("wallex")

    def opportunity(buy, sell):
        return make_opportunity(market=market, buy=buy, sell=sell, quantity=Decimal("1"),
                                buy_price=Decimal("1"), sell_price=Decimal("2"))

    first = opportunity(a, b)
    opportunity(b, a)  # the other direction: fine
    _refused(lambda: opportunity(a, b))
    first.status = "done"
    first.save()
    opportunity(a, b)  # once the first is final, the pair is free again
