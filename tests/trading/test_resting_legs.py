"""Issue 10 item 2: an entry leg left resting on a book is cancelled however
it was found (sync adopting a lost answer, recovery, the kill switch), and
the other leg's fill unwound: against the sandbox over HTTP."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from arbsite.locks import CANCEL_LEG, SETTLE_OPPORTUNITY, redis_lock
from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.admin.conftest import make_user
from tests.factories import make_opportunity, make_order
from trading.models import Opportunity, OpportunityEvent, Order, OrderEvent, OrderEventKind
from trading.services.execution import opportunity_execute
from trading.services.legs import execution_window, legs_overdue_cancel, naked_seconds
from trading.services.recovery import orders_recover
from trading.services.risk import daily_loss_enforce
from trading.services.roles import OPERATOR
from trading.services.settlement import net_base_position, opportunity_reconcile
from trading.services.sync import orders_sync, place_timeout

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")  # static scenario: best ask, rial (the buy fills)
RESTING_SELL = Decimal("101000000000")  # above Wallex's best bid below: the sell rests


@pytest.fixture
def btc(trading_setup, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    # Wallex bids well below the sell leg's limit: it rests on the book.
    trading_setup.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                           bids=[["9000000000", "5"]])
    return Market.objects.get(base="BTC", quote="IRR")


def _ex(name):
    return Exchange.objects.get(name=name)


def _opportunity(btc, **kw):
    return make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                            buy_price=NOBITEX_ASK, sell_price=RESTING_SELL, **kw)


def _remote(sandbox, exchange, client_order_id):
    return next(o for o in sandbox.state()["exchanges"][exchange]["orders"]
                if o["client_order_id"] == client_order_id)


def _age(order, by: timedelta):
    """The leg was written ``by`` ago (its execution window is over)."""
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - by)


def _executed_with_the_sell_answer_lost(sandbox, btc):
    sandbox.set_faults("wallex:lost_answer=1")
    opp = _opportunity(btc)
    opportunity_execute(opportunity_id=opp.pk)
    sandbox.clear_faults()
    buy, sell = opp.orders.get(side="buy"), opp.orders.get(side="sell")
    assert (buy.status, sell.status) == (OrderState.FILLED, OrderState.UNKNOWN)
    return opp, buy, sell


def _assert_cancelled_and_unwound(sandbox, opp, sell, source):
    sell.refresh_from_db()
    opp.refresh_from_db()
    assert sell.status == OrderState.CANCELLED and sell.filled_quantity == 0
    assert _remote(sandbox, "wallex", sell.client_order_id)["status"] == "canceled"
    # Recorded: the cancel on the order's history and on the opportunity's
    cancel = OrderEvent.objects.get(order=sell, kind=OrderEventKind.LEG_CANCEL)
    assert cancel.source == source and "cancel of its rest sent" in cancel.message
    assert OpportunityEvent.objects.filter(opportunity=opp, source=source,
                                           message__contains=sell.client_order_id).exists()
    # The bought leg sold back on Nobitex by the bounded unwind: flat again
    unwind = opp.orders.get(purpose=Order.Purpose.UNWIND)
    assert (unwind.exchange.name, unwind.side, unwind.status) == ("nobitex", "sell",
                                                                  OrderState.FILLED)
    assert net_base_position(opp) == 0
    assert opp.status == Opportunity.Status.UNWOUND


def test_sync_cancels_an_adopted_resting_leg_after_its_window_and_unwinds_the_other(btc,
                                                                                     trading_setup):
    # Given the sell leg's answer lost, the buy filled, the sell resting on Wallex's book
    sandbox = trading_setup
    opp, buy, sell = _executed_with_the_sell_answer_lost(sandbox, btc)

    # When sync adopts it within its execution window, it is left to rest
    orders_sync()
    sell.refresh_from_db()
    assert sell.status == OrderState.OPEN and sell.exchange_order_id
    assert not OrderEvent.objects.filter(order=sell, kind=OrderEventKind.LEG_CANCEL).exists()
    assert _remote(sandbox, "wallex", sell.client_order_id)["status"] == "open"

    # and once the window is over, the next sync cancels it and unwinds the buy
    _age(sell, execution_window() + timedelta(seconds=1))
    orders_sync()
    _assert_cancelled_and_unwound(sandbox, opp, sell, "sync")

    # Naked from the buy's fill to the unwind's, and no longer once flat
    naked = naked_seconds(opportunity_id=opp.pk)
    assert naked > 0
    assert naked_seconds(opportunity_id=opp.pk,
                         until=timezone.now() + timedelta(hours=1)) == naked

    # Again: nothing more is sent (no second cancel, no second unwind)
    orders_sync()
    assert OrderEvent.objects.filter(kind=OrderEventKind.LEG_CANCEL).count() == 1
    assert opp.orders.filter(purpose=Order.Purpose.UNWIND).count() == 1


def test_recovery_cancels_a_resting_leg_found_after_a_crash_and_unwinds_the_other(btc,
                                                                                   trading_setup):
    # Given both legs reached the exchanges, and their answers died with the worker
    sandbox = trading_setup
    opp = _opportunity(btc, status=Opportunity.Status.EXECUTING)
    legs = [make_order(exchange=_ex("nobitex"), market=btc, side="buy", quantity=QTY,
                       price=NOBITEX_ASK, opportunity=opp),
            make_order(exchange=_ex("wallex"), market=btc, side="sell", quantity=QTY,
                       price=RESTING_SELL, opportunity=opp)]
    for leg in legs:
        get_adapter(leg.exchange).place_order(OrderRequest(
            market=btc.code, side=Side(leg.side), type=OrderType.LIMIT, quantity=QTY,
            client_order_id=leg.client_order_id, price=leg.price))
        _age(leg, execution_window() + timedelta(seconds=1))

    # When recovery runs
    report = orders_recover(grace=place_timeout())

    # Then the resting sell is cancelled, the bought leg unwound, the opportunity closed
    _assert_cancelled_and_unwound(sandbox, opp, legs[1], "recovery")
    assert report.opportunities_closed == 1


def test_the_kill_switch_cancels_resting_entry_legs_at_once(btc, trading_setup, client):
    # Given an adopted resting sell still within its window
    sandbox = trading_setup
    opp, buy, sell = _executed_with_the_sell_answer_lost(sandbox, btc)
    orders_sync()
    sell.refresh_from_db()
    assert sell.status == OrderState.OPEN

    # The confirmation page says what tripping does to resting legs
    operator = make_user("olga", group=OPERATOR)
    client.force_login(operator)
    url = reverse("admin:control_kill_switch", args=["on"])
    assert "Entry legs resting on a book are cancelled" in client.get(url).content.decode()

    # When an operator trips the kill switch
    done = client.post(url, {"reason": "books look wrong"}, follow=True)

    # Then the leg is cancelled now, by the operator, and the message says so
    sell.refresh_from_db()
    assert sell.status == OrderState.CANCELLED
    assert OrderEvent.objects.get(order=sell, kind=OrderEventKind.LEG_CANCEL).source == (
        "admin:olga")
    assert "1 resting entry leg(s) cancelled" in done.content.decode()
    # and the next sync unwinds the one-sided fill (an unwind is not a new trade)
    orders_sync()
    _assert_cancelled_and_unwound(sandbox, opp, sell, "admin:olga")


def test_a_leg_being_cancelled_elsewhere_is_not_cancelled_twice(btc, trading_setup):
    sandbox = trading_setup
    opp, buy, sell = _executed_with_the_sell_answer_lost(sandbox, btc)
    orders_sync()
    _age(sell, execution_window() + timedelta(seconds=1))

    # While another process holds the leg's cancel, a sweep sends nothing
    with redis_lock(CANCEL_LEG, scope=str(sell.pk)):
        [busy] = legs_overdue_cancel(source="sync")
    assert busy.outcome == "busy"
    assert not OrderEvent.objects.filter(order=sell, kind=OrderEventKind.LEG_CANCEL).exists()
    assert _remote(sandbox, "wallex", sell.client_order_id)["status"] == "open"

    # and while another settles the opportunity, no unwind is placed here
    [done] = legs_overdue_cancel(source="sync")
    assert done.outcome == "cancelled"
    with redis_lock(SETTLE_OPPORTUNITY, scope=str(opp.pk)):
        assert opportunity_reconcile(opportunity_id=opp.pk, source="sync").action == "waiting"
    assert not opp.orders.filter(purpose=Order.Purpose.UNWIND).exists()
    assert opportunity_reconcile(opportunity_id=opp.pk, source="sync").action == "closed"
    assert opp.orders.filter(purpose=Order.Purpose.UNWIND).count() == 1


def test_a_kill_switch_tripped_by_the_daily_loss_cancels_resting_entry_legs(btc,
                                                                             trading_setup):
    # Given an adopted resting sell, and a loss today beyond the daily limit elsewhere
    sandbox = trading_setup
    opp, buy, sell = _executed_with_the_sell_answer_lost(sandbox, btc)
    orders_sync()
    make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("invex"), quantity=QTY,
                     buy_price=NOBITEX_ASK, sell_price=RESTING_SELL,
                     status=Opportunity.Status.UNWOUND, closed_at=timezone.now(),
                     realized_pnl=Decimal("-60000000"))

    # When the risk check trips the kill switch
    assert "daily loss limit breached" in daily_loss_enforce()

    # Then the resting leg is cancelled at once, by the risk check
    sell.refresh_from_db()
    assert sell.status == OrderState.CANCELLED
    assert OrderEvent.objects.get(order=sell, kind=OrderEventKind.LEG_CANCEL).source == "risk"
