"""Detection sizes trades with balances as they stand now: what was
committed since the last read of an exchange's balances is deducted."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exchanges.states import OrderState
from exchanges.types import Balance
from tests.factories import make_exchange, make_market, make_opportunity, make_order, make_trade
from trading.models import Order
from trading.services.balances import CachedBalances, balances_committed

pytestmark = pytest.mark.django_db


def cached(name, read_at, **available):
    return CachedBalances(name, {a: Balance(a, Decimal(v), Decimal(v)) for a, v in
                                 available.items()}, read_at)


def test_what_was_committed_since_the_read_is_deducted():
    nobitex = make_exchange("nobitex", taker_fee=Decimal("0.0025"))
    wallex = make_exchange("wallex")
    btc = make_market("BTC", "IRR")
    read_at = timezone.now() - timedelta(seconds=10)

    # Before the read: an open buy (the exchange already blocked it) and its fill
    # (seen by the read): neither changes anything.
    old = make_order(exchange=nobitex, market=btc, side="buy", quantity=Decimal("1"),
                     price=Decimal("100"))
    Order.objects.filter(pk=old.pk).update(created_at=read_at - timedelta(seconds=5))
    make_trade(order=old, quantity=Decimal("0.5"), price=Decimal("100"),
               quote_amount=Decimal("50"), executed_at=read_at - timedelta(seconds=1))

    # After the read: a live buy of 2 @ 100 on Nobitex blocks 2 × 100 × 1.0025
    make_order(exchange=nobitex, market=btc, side="buy", quantity=Decimal("2"),
               price=Decimal("100"), status=OrderState.OPEN)
    # a filled sell of 1 BTC on Nobitex spent 1 BTC and brought 120 − 0.3 fee
    sold = make_order(exchange=nobitex, market=btc, side="sell", quantity=Decimal("1"),
                      price=Decimal("120"), status=OrderState.FILLED,
                      filled_quantity=Decimal("1"))
    make_trade(order=sold, side="sell", quantity=Decimal("1"), price=Decimal("120"),
               quote_amount=Decimal("120"), fee=Decimal("0.3"), fee_asset="IRR")
    # and a detected opportunity, not yet orders, holds both legs
    make_opportunity(market=btc, buy=nobitex, sell=wallex, quantity=Decimal("0.1"),
                     buy_price=Decimal("100"), sell_price=Decimal("110"),
                     buy_fee_rate=Decimal("0.0025"))

    now = balances_committed({
        "nobitex": cached("nobitex", read_at, IRR="1000", BTC="5"),
        "wallex": cached("wallex", read_at, IRR="0", BTC="3"),
    })

    assert now["nobitex"].available("IRR") == (
        Decimal("1000") - Decimal("200.5") + Decimal("119.7") - Decimal("10.025"))
    assert now["nobitex"].available("BTC") == Decimal("4")
    assert now["wallex"].available("BTC") == Decimal("2.9")
    assert now["nobitex"].balances["IRR"].total == Decimal("1000")  # what was read


def test_nothing_since_the_read_leaves_the_balances_as_read():
    make_exchange("nobitex")
    read = {"nobitex": cached("nobitex", timezone.now(), IRR="1000")}
    assert balances_committed(read) == read
