"""When an order may be declared never placed (issue 11 and issue 10 item 3),
against the sandbox over HTTP: only when every search that could find it
answered explicitly that it is not there, twice, the grace apart, and never
while its place request may still be in flight; an answer that cannot be
classified keeps it unknown and tells a human; a grace shorter than the
place timeout is refused wherever it is given."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from exchanges import registry
from exchanges.models import Exchange, Market
from exchanges.ratelimit import backoff_state
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.factories import make_order
from trading.models import Order, OrderEventKind
from trading.services.orders import order_submit
from trading.services.recovery import orders_recover
from trading.services.sync import (
    GraceTooShort,
    configured_not_found_grace,
    exchange_sync,
    place_timeout,
)

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
RESTING_BUY = Decimal("99000000000")
CROSSING_BUY = Decimal("100100000000")


@pytest.fixture
def btc(trading_setup, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    return Market.objects.get(base="BTC", quote="IRR")


def _pending(btc, exchange="wallex", price=RESTING_BUY, **fields):
    return make_order(exchange=Exchange.objects.get(name=exchange), market=btc, side="buy",
                      quantity=QTY, price=price, **fields)


def _report(report, name):
    return next(r for r in report.exchanges if r.exchange == name)


def test_an_order_younger_than_the_place_timeout_is_never_failed(btc):
    # Given an order written a moment ago (its place request may be in flight)
    # that the exchange has twice said it does not have, the grace long past
    order = _pending(btc)
    Order.objects.filter(pk=order.pk).update(
        not_found_since=timezone.now() - timedelta(hours=1))

    exchange_sync(exchange=order.exchange)

    # Then it is not failed: too young
    order.refresh_from_db()
    assert order.status == OrderState.PENDING_SUBMIT

    # Once older than the place timeout, the same answer fails it
    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.now() - place_timeout() - timedelta(seconds=1))
    exchange_sync(exchange=order.exchange)
    order.refresh_from_db()
    assert order.status == OrderState.REJECTED
    assert order.events.order_by("-id").first().kind == OrderEventKind.NOT_FOUND


def test_an_answer_that_cannot_be_classified_keeps_the_order_unknown_and_tells_a_human(
        trading_setup, btc):
    # Given a Nobitex that answers a lookup of an unknown client order id with an
    # empty order (the sandbox's nobitex-not-found=empty), an adapter not told so
    trading_setup.set_variants({"nobitex-not-found": "empty"})
    order = _pending(btc, "nobitex")

    report = orders_recover(grace=place_timeout())

    order.refresh_from_db()
    assert order.status == OrderState.UNKNOWN and order.not_found_since is None
    events = list(order.events.filter(kind=OrderEventKind.LOOKUP_UNCLEAR))
    assert len(events) == 1 and "cannot be classified" in events[0].message
    assert _report(report, "nobitex").unclear == 1 and not report.complete
    assert any(order.client_order_id in item and "resolve it by hand" in item
               for item in report.needs_human)
    # Asked again, the same answer: still unknown, the history not flooded
    orders_recover(grace=place_timeout(), wait_grace=False)
    assert order.events.filter(kind=OrderEventKind.LOOKUP_UNCLEAR).count() == 1

    # When the deployment records how this Nobitex answers (conformance --apply)
    Exchange.objects.filter(name="nobitex").update(
        wire_variants={"nobitex-not-found": "empty"}, updated_at=timezone.now())
    registry.clear_cache()
    report = orders_recover(grace=place_timeout())

    # Then both searches answer "not there", twice, and only then is it failed
    order.refresh_from_db()
    assert order.status == OrderState.REJECTED and report.complete
    assert "never reached the exchange" in order.status_reason


def test_a_lost_answer_of_an_order_that_filled_at_once_is_adopted_never_rejected(btc):
    # Given a Nobitex leg that filled at once and whose answer was lost: a lookup by
    # client order id searches open orders only (not found there), the order list
    # (details=2, no client order id in its rows) has it
    order = _pending(btc, "nobitex", price=CROSSING_BUY, status=OrderState.UNKNOWN)
    registry.get_adapter(order.exchange).place_order(OrderRequest(
        market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT, quantity=QTY,
        client_order_id=order.client_order_id, price=CROSSING_BUY))
    # and its twin, placed the same minute, that this system knows (never taken for it)
    twin = _pending(btc, "nobitex", price=CROSSING_BUY)
    placed = registry.get_adapter(twin.exchange).place_order(OrderRequest(
        market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT, quantity=QTY,
        client_order_id=twin.client_order_id, price=CROSSING_BUY))
    Order.objects.filter(pk=twin.pk).update(status=OrderState.FILLED, filled_quantity=QTY,
                                            exchange_order_id=placed.exchange_order_id)

    for _ in range(3):  # as often as sync runs: found, never "not found"
        exchange_sync(exchange=order.exchange)

    order.refresh_from_db()
    assert order.status == OrderState.FILLED and order.filled_quantity == QTY
    assert order.exchange_order_id and order.exchange_order_id != placed.exchange_order_id
    assert order.trades.count() == 1


@pytest.mark.parametrize("exchange", ["nobitex", "wallex", "invex"])
def test_a_lost_answer_on_each_exchange_is_adopted_as_filled(trading_setup, btc, exchange):
    # Given a leg that filled at once on the exchange and whose answer was lost
    # (Nobitex: found in its closed orders; Wallex: by client id; Invex: by client
    # order id)
    trading_setup.set_faults(f"{exchange}:lost_answer=1")
    order = _pending(btc, exchange, price=CROSSING_BUY)
    assert order_submit(order=order, source="executor") is None
    order.refresh_from_db()
    assert order.status == OrderState.UNKNOWN
    trading_setup.clear_faults()

    # When sync runs, again and again, well past the grace
    exchange_sync(exchange=order.exchange)
    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.now() - timedelta(hours=1))
    exchange_sync(exchange=order.exchange)

    # Then it is adopted as the exchange has it, its fill recorded; never rejected
    order.refresh_from_db()
    assert order.status == OrderState.FILLED and order.filled_quantity == QTY
    assert order.exchange_order_id and order.trades.count() == 1
    assert not order.events.filter(to_status=OrderState.REJECTED).exists()


def test_recovery_waits_out_a_back_off_without_a_value_instead_of_skipping(
        trading_setup, btc, settings):
    # Given a Wallex order that reached the exchange, and a 429 without a back-off
    # value met just before (Wallex documents none): the default back-off holds
    settings.EXCHANGE_RATE_LIMITS_ENABLED = True
    settings.EXCHANGE_DEFAULT_BACKOFF_SECONDS = 2.0
    registry.clear_cache()
    order = _pending(btc, "wallex", price=CROSSING_BUY)
    adapter = registry.get_adapter(order.exchange)
    adapter.place_order(OrderRequest(market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT,
                                     quantity=QTY, client_order_id=order.client_order_id,
                                     price=CROSSING_BUY))
    trading_setup.set_faults("wallex:ratelimit=1")
    with pytest.raises(Exception, match="no back-off given: waiting the default 2s"):
        adapter.get_order_book("BTC-IRR")
    trading_setup.clear_faults()
    assert backoff_state("wallex").active

    report = orders_recover(grace=place_timeout(), exchange_names=["wallex"])

    # Then recovery waited and recovered the exchange instead of skipping it
    order.refresh_from_db()
    assert not _report(report, "wallex").skipped and report.complete
    assert order.status == OrderState.FILLED


def test_a_grace_below_the_place_timeout_is_refused_by_the_service_and_the_command(
        btc, settings):
    assert place_timeout() == timedelta(seconds=3.5)  # tests/trading/conftest.py
    with pytest.raises(GraceTooShort, match="below the place timeout of 3.5s"):
        orders_recover(grace=timedelta(seconds=1))
    with pytest.raises(CommandError, match=r"--grace 0: .*below the place timeout"):
        call_command("recover_orders", "--grace", "0")
    with pytest.raises(CommandError, match="--grace must be a number"):
        call_command("recover_orders", "--grace", "nan")
    settings.ORDER_NOT_FOUND_GRACE_SECONDS = 2
    with pytest.raises(ImproperlyConfigured, match="ORDER_NOT_FOUND_GRACE_SECONDS"):
        configured_not_found_grace()
    # Nothing was looked up or changed on the way
    assert not Order.objects.exists()
