"""One bad order never stops the rest (issue 12 item 2): an unexpected error
on one order — a constraint violation of the real database — is recorded on
that order (an ``error`` event, flagged "needs a human") while sync,
recovery and execution carry on with the others; an exchange order id that
collides with an older order's is settled by client order id."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.db_faults import status_change_refused
from tests.factories import make_opportunity, make_order
from trading.models import Opportunity, Order, OrderEventKind
from trading.services.execution import opportunity_execute
from trading.services.recovery import orders_recover
from trading.services.sync import orders_sync, place_timeout

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
CROSSING_BUY = Decimal("100100000000")  # above the static ask: fills at once


@pytest.fixture
def btc(trading_setup, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    return Market.objects.get(base="BTC", quote="IRR")


def _lost_answer(btc, exchange="nobitex", quantity=QTY, **fields) -> Order:
    """An order placed on the exchange whose answer was never stored (each of
    its own amount: Nobitex's lists name no client id, and twins are never guessed)."""
    order = make_order(exchange=Exchange.objects.get(name=exchange), market=btc, side="buy",
                       quantity=quantity, price=CROSSING_BUY, status=OrderState.UNKNOWN,
                       **fields)
    order.placed = get_adapter(order.exchange).place_order(OrderRequest(
        market=order.market.code, side=Side.BUY, type=OrderType.LIMIT, quantity=quantity,
        client_order_id=order.client_order_id, price=CROSSING_BUY))
    return order


def _flagged_with(order: Order, kind: str) -> str:
    order.refresh_from_db()
    assert order.needs_human, order.client_order_id
    event = order.events.filter(kind=kind).order_by("-id").first()
    assert event is not None, list(order.events.values_list("kind", "message"))
    return event.message


def test_a_constraint_violation_on_one_order_in_sync_leaves_the_others_synced(btc):
    # Given three orders the exchange filled, one of which the database refuses to change
    good = [_lost_answer(btc, quantity=QTY), _lost_answer(btc, quantity=2 * QTY)]
    bad = _lost_answer(btc, quantity=3 * QTY)

    # When sync runs
    with status_change_refused(order_id=bad.pk):
        report = orders_sync()

    # Then the others are synced, and the bad one is flagged with what happened
    for order in good:
        order.refresh_from_db()
        assert order.status == OrderState.FILLED and not order.needs_human
        assert order.trades.count() == 1
    message = _flagged_with(bad, OrderEventKind.ERROR)
    assert "IntegrityError" in message
    bad.refresh_from_db()
    assert bad.status == OrderState.UNKNOWN  # still findable by its client order id
    nobitex = next(r for r in report.exchanges if r.exchange == "nobitex")
    assert any(bad.client_order_id in e for e in nobitex.errors)
    assert any(bad.client_order_id in m for m in nobitex.needs_human)

    # and once the cause is gone, the next sync settles it
    orders_sync()
    bad.refresh_from_db()
    assert bad.status == OrderState.FILLED


def test_recovery_reports_the_bad_order_and_exits_incomplete(btc, capsys):
    good = _lost_answer(btc, "wallex")
    bad = _lost_answer(btc, "nobitex")

    with status_change_refused(order_id=bad.pk), pytest.raises(SystemExit) as exit_:
        call_command("recover_orders", "--grace", "3.5")

    assert exit_.value.code == 2
    out = capsys.readouterr().out
    assert "recovery INCOMPLETE" in out and "Traceback" not in out
    assert f"error: nobitex: {bad.client_order_id}" in out and "IntegrityError" in out
    assert "needs a human:" in out and bad.client_order_id in out.split("needs a human:")[1]
    good.refresh_from_db()
    assert good.status == OrderState.FILLED
    _flagged_with(bad, OrderEventKind.ERROR)


def test_recover_orders_refuses_wrong_arguments_clearly(btc):
    with pytest.raises(CommandError) as refused:
        call_command("recover_orders", "--exchange", "nobitexx")
    assert refused.value.returncode == 1
    assert "no such exchange nobitexx" in str(refused.value)
    assert "invex, nobitex, wallex" in str(refused.value)
    with pytest.raises(CommandError) as refused:
        call_command("recover_orders", "--grace", "1")
    assert refused.value.returncode == 1 and "below the place timeout" in str(refused.value)


@pytest.mark.parametrize("exchange", ["nobitex", "invex"])
def test_an_exchange_order_id_held_by_an_older_order_goes_to_the_order_the_exchange_names(
        btc, exchange):
    # Given an order the exchange filled under an id that an older order here
    # holds (an exchange, or a sandbox, that handed the id out again)
    new = _lost_answer(btc, exchange)
    reported = new.placed
    old = make_order(exchange=new.exchange, market=btc, side="sell", quantity=QTY,
                     price=CROSSING_BUY, status=OrderState.FILLED, filled_quantity=QTY,
                     exchange_order_id=reported.exchange_order_id)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))

    # When sync and recovery meet it
    first = orders_sync()
    report = orders_recover(grace=place_timeout())

    # Then the order whose client id the exchange reports owns the id; the old
    # one gave it up, is kept with its history and flagged for a human
    new.refresh_from_db()
    assert new.status == OrderState.FILLED
    assert new.exchange_order_id == reported.exchange_order_id and not new.needs_human
    message = _flagged_with(old, OrderEventKind.ID_CONFLICT)
    assert reported.exchange_order_id in message and new.client_order_id in message
    old.refresh_from_db()
    assert old.exchange_order_id is None and old.status == OrderState.FILLED
    assert report.complete, report
    # and the operator was told, in the sync's report
    assert any(old.client_order_id in m for r in first.exchanges for m in r.needs_human)


def test_an_error_after_the_legs_were_sent_leaves_them_for_recovery(btc):
    # Given an opportunity whose Nobitex leg the database refuses to update
    sandbox = btc and Market.objects.get(base="BTC", quote="IRR")
    trading = Exchange.objects.get(name="nobitex")
    from exchanges.sandbox import SandboxServer  # noqa: F401 - the fixture's type

    opp = make_opportunity(market=sandbox, buy=trading,
                           sell=Exchange.objects.get(name="wallex"), quantity=QTY,
                           buy_price=Decimal("100040000000"), sell_price=Decimal("99000000000"))

    # When it executes
    with status_change_refused(exchange_id=trading.pk):
        result = opportunity_execute(opportunity_id=opp.pk)

    # Then execution ends without raising; the leg it could not record is
    # still pending with its client order id, flagged; the other is stored
    assert result.outcome == "sent"
    leg = Order.objects.get(opportunity=opp, exchange=trading)
    assert leg.status == OrderState.PENDING_SUBMIT
    assert "IntegrityError" in _flagged_with(leg, OrderEventKind.ERROR)
    other = Order.objects.get(opportunity=opp, exchange__name="wallex")
    assert other.status in (OrderState.FILLED, OrderState.OPEN, OrderState.CANCELLED)

    # and recovery adopts it and settles the opportunity
    report = orders_recover(grace=place_timeout())
    leg.refresh_from_db()
    assert leg.status == OrderState.FILLED and leg.exchange_order_id
    opp.refresh_from_db()
    assert opp.status != Opportunity.Status.EXECUTING, (opp.status, report)


def test_recover_orders_says_when_another_recovery_runs(btc, capsys):
    from arbsite.locks import RECOVER_ORDERS, redis_lock

    with redis_lock(RECOVER_ORDERS) as held, pytest.raises(SystemExit) as exit_:
        assert held
        call_command("recover_orders")
    assert exit_.value.code == 4
    assert "another recovery is running" in capsys.readouterr().err
