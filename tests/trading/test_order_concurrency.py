"""Two workers reporting on one order at the same time lose nothing."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from exchanges.states import OrderState
from tests.factories import make_order
from trading.models import Order, OrderEvent
from trading.services.orders import IllegalTransition, order_transition


@pytest.mark.django_db(transaction=True)
def test_concurrent_fill_reports_keep_the_highest_fill_and_every_event(postgres_only):
    # Given an open order and eight workers, each holding a different fill report
    order = make_order(quantity=Decimal("8"))
    order_transition(order_id=order.pk, to_status=OrderState.OPEN, source="executor")
    fills = [Decimal(n) for n in range(1, 9)]
    barrier = threading.Barrier(len(fills))
    outcomes: list[str] = []

    def report(filled: Decimal) -> None:
        try:
            barrier.wait()
            status = OrderState.FILLED if filled == 8 else OrderState.PARTIALLY_FILLED
            result = order_transition(order_id=order.pk, to_status=status, source="sync",
                                      filled_quantity=filled)
            outcomes.append("changed" if result.changed else "same")
        except IllegalTransition:
            outcomes.append("stale")  # a lower fill arriving after a higher one
        finally:
            connection.close()

    # When they all report at once
    threads = [threading.Thread(target=report, args=(f,)) for f in fills]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then the order holds the highest fill, and the history is a monotonic
    # sequence with one event per accepted report: no update was lost.
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderState.FILLED
    assert order.filled_quantity == Decimal("8")
    events = list(OrderEvent.objects.filter(order=order, source="sync").order_by("id"))
    assert len(events) == outcomes.count("changed")
    assert [e.filled_quantity for e in events] == sorted(e.filled_quantity for e in events)
    chain = [(e.from_status, e.to_status) for e in events]
    for (_, prev_to), (next_from, _) in zip(chain, chain[1:], strict=False):
        assert next_from == prev_to  # each event starts where the previous ended
