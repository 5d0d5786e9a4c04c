"""An order held rejected that its exchange has after all (issue 10 item 3):
the exchange's truth wins. Its fills are recorded, it takes the exchange's
state through the state machine (an event of kind ``reconciled``), the
report is never dropped, and its opportunity settles with the real fill —
reopened if it had settled without it. Against the sandbox over HTTP."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from tests.factories import make_opportunity, make_order
from tests.trading.sandbox_checks import check_sandbox_agrees, sandbox_balances
from trading.models import Opportunity, OpportunityEvent, Order, OrderEventKind, Trade
from trading.pnl import realized_pnl
from trading.services.execution import opportunity_execute
from trading.services.orders import order_apply_report, order_submit, order_transition
from trading.services.settlement import net_base_position, opportunity_reconcile
from trading.services.sync import orders_sync

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")
WALLEX_BID = Decimal("101000000000")


@pytest.fixture
def btc(trading_setup, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    # Wallex pays more than Nobitex asks: both legs fill at once.
    trading_setup.set_book("wallex", "BTCTMN", asks=[["10200000000", "5"]],
                           bids=[["10100000000", "5"], ["9000000000", "5"]])
    return Market.objects.get(base="BTC", quote="IRR")


def _ex(name):
    return Exchange.objects.get(name=name)


def _opportunity(btc, **fields):
    return make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                            buy_price=NOBITEX_ASK, sell_price=WALLEX_BID, **fields)


def _give_up(order: Order) -> None:
    """What recovery with ``--grace 0`` did to an order whose place was in flight."""
    order_transition(order_id=order.pk, to_status=OrderState.REJECTED, source="recovery",
                     reason="never reached the exchange: not found at once (grace 0)",
                     kind=OrderEventKind.NOT_FOUND)


def test_a_place_answer_arriving_after_the_order_was_given_up_is_applied(trading_setup, btc):
    # Given a Nobitex whose place answers come 1.5 s late (within the read timeout)
    sandbox = trading_setup
    before = sandbox_balances(sandbox)
    sandbox.set_faults("nobitex:latency=1500")
    opportunity = _opportunity(btc)
    errors: list[BaseException] = []

    def execute() -> None:
        try:
            opportunity_execute(opportunity_id=opportunity.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    executor = threading.Thread(target=execute)
    executor.start()
    # When, while the Nobitex leg is in flight, the order is given up as never placed
    deadline = time.monotonic() + 10
    while not Order.objects.filter(opportunity=opportunity, side="buy").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    buy = Order.objects.get(opportunity=opportunity, side="buy")
    _give_up(buy)
    executor.join(timeout=30)
    sandbox.clear_faults()
    assert not errors and not executor.is_alive()

    # Then the late answer was not dropped: the exchange's truth, its fill recorded
    buy.refresh_from_db()
    assert buy.status == OrderState.FILLED and buy.filled_quantity == QTY
    assert buy.trades.count() == 1
    reconciled = buy.events.get(kind=OrderEventKind.RECONCILED)
    assert (reconciled.from_status, reconciled.to_status) == ("rejected", "filled")
    assert reconciled.source == "executor" and "held rejected" in reconciled.message
    # and the opportunity settled on the real fills: both legs, no unwind
    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.DONE
    assert opportunity.realized_pnl == Decimal("3059000")
    assert not opportunity.orders.filter(purpose=Order.Purpose.UNWIND).exists()
    check_sandbox_agrees(sandbox, before)


def test_an_opportunity_settled_without_a_fill_is_reopened_and_settles_on_it(trading_setup,
                                                                          btc):
    # Given an opportunity whose Nobitex buy was given up while the sell filled, so
    # that it settled as unwound (the sell bought back on Wallex)
    sandbox = trading_setup
    before = sandbox_balances(sandbox)
    opportunity = _opportunity(btc, status=Opportunity.Status.EXECUTING)
    buy = make_order(exchange=_ex("nobitex"), market=btc, opportunity=opportunity, side="buy",
                     quantity=QTY, price=NOBITEX_ASK)
    sell = make_order(exchange=_ex("wallex"), market=btc, opportunity=opportunity,
                      side="sell", quantity=QTY, price=WALLEX_BID)
    late_answer = order_submit(order=buy, source="executor")  # it did reach Nobitex
    _give_up(buy)
    order_apply_report(order=sell, report=order_submit(order=sell, source="executor"),
                       source="executor")
    assert opportunity_reconcile(opportunity_id=opportunity.pk, source="sync").action == "closed"
    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.UNWOUND
    assert net_base_position(opportunity) == 0  # as far as it knew

    # When the buy's answer (or any report of it) arrives after all
    order_apply_report(order=buy, report=late_answer, source="executor")

    # Then the fill is recorded, the opportunity reopened, and settled again on the
    # real fills: the extra 0.01 BTC bought is unwound too, the P&L from every trade
    buy.refresh_from_db()
    assert buy.status == OrderState.FILLED and buy.filled_quantity == QTY
    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.EXECUTING
    assert OpportunityEvent.objects.filter(opportunity=opportunity, to_status="executing",
                                           message__startswith="reopened:").exists()
    orders_sync()  # reads Nobitex's fills (its order answers carry none), then settles
    assert buy.trades.count() == 1
    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.UNWOUND
    assert net_base_position(opportunity) == 0
    unwinds = opportunity.orders.filter(purpose=Order.Purpose.UNWIND).order_by("pk")
    assert [(o.exchange.name, o.side) for o in unwinds] == [("wallex", "buy"),
                                                            ("nobitex", "sell")]
    assert opportunity.realized_pnl == realized_pnl(opportunity)
    assert Trade.objects.filter(order__opportunity=opportunity).count() == 4
    check_sandbox_agrees(sandbox, before)


def test_an_order_held_rejected_that_a_sync_finds_open_takes_its_state(trading_setup, btc):
    # Given an order this system gave up that rests on Nobitex's book after all
    order = make_order(exchange=_ex("nobitex"), market=btc, side="buy", quantity=QTY,
                       price=Decimal("99000000000"))
    order_submit(order=order, source="executor")
    _give_up(order)

    report = orders_sync()

    order.refresh_from_db()
    assert order.status == OrderState.OPEN and order.exchange_order_id
    assert order.events.filter(kind=OrderEventKind.RECONCILED, source="sync").exists()
    nobitex = next(r for r in report.exchanges if r.exchange == "nobitex")
    assert any("held rejected" in item for item in nobitex.needs_human)
    # and from then on it is followed like any live order
    get_adapter(order.exchange).cancel_order(exchange_order_id=order.exchange_order_id)
    orders_sync()
    order.refresh_from_db()
    assert order.status == OrderState.CANCELLED
