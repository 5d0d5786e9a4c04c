"""Recovery against the sandbox over HTTP: orders left pending, unknown or
open are brought to the exchange's truth, missed fills recorded once,
external orders imported, ambiguity never read as "no such order"."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from exchanges.interface import ExchangeAdapter
from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.factories import make_opportunity, make_order
from trading.models import Opportunity, Order, Trade
from trading.services import recovery
from trading.services.recovery import orders_recover
from trading.services.sync import place_timeout

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
RESTING_BUY = Decimal("99000000000")  # below the static ask: rests on the book
CROSSING_BUY = Decimal("100100000000")  # above the static ask: fills at once


@pytest.fixture
def btc(trading_setup, settings):
    # The shared limiter's windows would carry one test's calls into the next.
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    return Market.objects.get(base="BTC", quote="IRR")


def _ex(name):
    return Exchange.objects.get(name=name)


def _order(btc, exchange="nobitex", price=RESTING_BUY, status=OrderState.PENDING_SUBMIT,
           **fields):
    return make_order(exchange=_ex(exchange), market=btc, side="buy", quantity=QTY,
                      price=price, status=status, **fields)


def _place(order):
    """The order reaches the exchange, but its answer is never stored (a crash)."""
    return get_adapter(order.exchange).place_order(OrderRequest(
        market=order.market.code, side=Side(order.side), type=OrderType.LIMIT,
        quantity=order.quantity, client_order_id=order.client_order_id, price=order.price))


def _recover(**kw):
    """Recovery with the shortest grace it accepts: the place timeout."""
    return orders_recover(grace=place_timeout(), **kw)


def _report(report, name):
    return next(r for r in report.exchanges if r.exchange == name)


@pytest.mark.parametrize("exchange", ["nobitex", "wallex", "invex"])
def test_a_pending_order_that_reached_the_exchange_is_adopted_with_its_fills(btc, exchange):
    order = _order(btc, exchange, price=CROSSING_BUY)
    _place(order)

    report = _recover()

    order.refresh_from_db()
    assert order.status == OrderState.FILLED and order.exchange_order_id
    assert order.filled_quantity == QTY
    assert Trade.objects.filter(order=order).count() == 1
    assert _report(report, exchange).adopted == 1 and report.complete
    # Once: a second recovery adds nothing.
    _recover()
    assert Trade.objects.filter(order=order).count() == 1


def test_a_pending_order_never_sent_is_rejected_only_after_a_second_not_found(btc):
    order = _order(btc, "wallex")

    report = orders_recover(grace=timedelta(seconds=30), wait_grace=False)

    order.refresh_from_db()
    assert order.status == OrderState.PENDING_SUBMIT and order.not_found_since is not None
    assert _report(report, "wallex").not_found_pending == 1

    report = _recover()  # not found again, and again once the grace has passed

    order.refresh_from_db()
    assert order.status == OrderState.REJECTED
    assert "never reached the exchange" in order.status_reason
    assert _report(report, "wallex").failed == 1


def test_the_operator_command_waits_the_grace_out_and_confirms(btc, capsys):
    order = _order(btc, "invex")

    call_command("recover_orders", "--grace", "3.5", "--exchange", "invex")

    order.refresh_from_db()
    assert order.status == OrderState.REJECTED
    out = capsys.readouterr().out
    assert "invex" in out and "recovery complete" in out


@pytest.mark.parametrize("fault", ["error5xx=1", "timeout=1", "ratelimit=1"])
def test_ambiguity_is_never_read_as_not_found(trading_setup, btc, fault, monkeypatch):
    # Given orders the exchange never saw, and an exchange that answers nothing useful
    sandbox = trading_setup
    monkeypatch.setattr(ExchangeAdapter, "LIST_PATIENCE", 2.0)
    monkeypatch.setattr(recovery, "PATIENCE", 2.0)
    orders = [_order(btc, "nobitex", status=status)
              for status in (OrderState.UNKNOWN, OrderState.PENDING_SUBMIT)]
    sandbox.set_faults(f"nobitex:{fault}")

    report = _recover()

    # Then nothing is failed, nothing marked not-found, and recovery says it is incomplete
    for order in orders:
        order.refresh_from_db()
        assert order.status in (OrderState.UNKNOWN, OrderState.PENDING_SUBMIT)
        assert order.not_found_since is None
    assert not report.complete and _report(report, "nobitex").failed == 0


def test_an_unreachable_exchange_is_skipped_and_the_others_recovered(trading_setup, btc,
                                                                      capsys):
    sandbox = trading_setup
    stuck = _order(btc, "nobitex", status=OrderState.UNKNOWN)
    adoptable = _order(btc, "wallex", price=CROSSING_BUY)
    _place(adoptable)
    sandbox.set_faults("nobitex:down=1")

    with pytest.raises(SystemExit) as exit_:
        call_command("recover_orders", "--grace", "3.5")

    assert exit_.value.code == 2
    stuck.refresh_from_db()
    adoptable.refresh_from_db()
    assert stuck.status == OrderState.UNKNOWN and stuck.not_found_since is None
    assert adoptable.status == OrderState.FILLED
    out = capsys.readouterr().out
    assert "SKIPPED" in out and "recovery INCOMPLETE" in out


def test_missed_fills_of_an_open_order_are_recorded_once(trading_setup, btc):
    sandbox = trading_setup
    order = _order(btc, "nobitex")
    report = _place(order)
    Order.objects.filter(pk=order.pk).update(status=OrderState.OPEN,
                                             exchange_order_id=report.exchange_order_id)
    # While we are down, the market falls through the order's price.
    sandbox.set_book("nobitex", "BTCIRT", asks=[["98000000000", "1"]],
                     bids=[["97000000000", "1"]])

    result = _recover()

    order.refresh_from_db()
    assert order.status == OrderState.FILLED
    assert _report(result, "nobitex").updated == 1
    assert _report(result, "nobitex").fills_added == 1
    assert Trade.objects.get(order=order).quantity == QTY


def test_orders_open_on_an_exchange_but_unknown_here_are_imported_not_cancelled(
        trading_setup, btc):
    sandbox = trading_setup
    adapter = get_adapter(_ex("wallex"))
    adapter.place_order(OrderRequest(market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT,
                                     quantity=QTY, client_order_id="BY_HAND_1",
                                     price=RESTING_BUY))

    report = _recover()

    imported = Order.objects.get(is_external=True)
    assert imported.purpose == Order.Purpose.EXTERNAL and imported.opportunity is None
    assert imported.status == OrderState.OPEN and imported.exchange_order_id == "BY_HAND_1"
    # Its id here is minted as ours are (exchange W, purpose external); the exchange's own
    # client id is the exchange order id (Wallex knows orders by it) and in the notes.
    assert imported.client_order_id.startswith("WX_") and "BY_HAND_1" in imported.notes
    assert _report(report, "wallex").imported == 1
    assert any("external order BY_HAND_1" in m for m in report.needs_human)
    assert [o["status"] for o in sandbox.state()["exchanges"]["wallex"]["orders"]] == ["open"]
    # Known from now on: not imported twice.
    assert _report(_recover(), "wallex").imported == 0


def test_cancel_external_cancels_them(trading_setup, btc):
    adapter = get_adapter(_ex("nobitex"))
    adapter.place_order(OrderRequest(market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT,
                                     quantity=QTY, client_order_id="BY_HAND_2",
                                     price=RESTING_BUY))

    _recover(cancel_external=True)

    assert Order.objects.get(is_external=True).status == OrderState.CANCELLED


def test_a_dry_run_changes_nothing_and_says_what_it_would_do(trading_setup, btc, capsys):
    order = _order(btc, "nobitex", price=CROSSING_BUY)
    _place(order)
    never_sent = _order(btc, "invex")

    call_command("recover_orders", "--dry-run")

    order.refresh_from_db()
    never_sent.refresh_from_db()
    assert order.status == OrderState.PENDING_SUBMIT and never_sent.not_found_since is None
    assert Trade.objects.count() == 0
    out = capsys.readouterr().out
    assert f"{order.client_order_id}: would adopt pending_submit → filled" in out
    assert "(dry run)" in out


def test_an_opportunity_whose_legs_were_left_pending_is_closed(trading_setup, btc):
    sandbox = trading_setup
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"]])
    opp = make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                           buy_price=CROSSING_BUY, sell_price=Decimal("101000000000"),
                           status=Opportunity.Status.EXECUTING)
    buy = _order(btc, "nobitex", price=CROSSING_BUY, opportunity=opp)
    sell = make_order(exchange=_ex("wallex"), market=btc, side="sell", quantity=QTY,
                      price=Decimal("101000000000"), opportunity=opp)
    _place(buy)
    _place(sell)

    report = _recover()

    opp.refresh_from_db()
    assert opp.status == Opportunity.Status.DONE
    assert opp.realized_pnl == Decimal("3059000")
    assert report.opportunities_closed == 1


def test_only_one_recovery_runs_at_a_time(trading_setup):
    from arbsite.locks import RECOVER_ORDERS, redis_lock

    with redis_lock(RECOVER_ORDERS) as held:
        assert held
        report = orders_recover()
    assert report.locked_out and not report.complete
