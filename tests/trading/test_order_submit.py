"""One way to send an order and map the answer (``order_submit``): entry
legs and unwinds alike. The accepted and ambiguous paths are covered
through execution (test_execution.py); these are the two that leave
nothing on the exchange or cannot say."""

from decimal import Decimal

import pytest

from exchanges import registry
from exchanges.models import Exchange, Market
from exchanges.states import OrderState
from trading.models import Order
from trading.services.orders import new_client_order_id, order_submit, orders_write

pytestmark = pytest.mark.django_db(transaction=True)


def _written(exchange: str, purpose: str = Order.Purpose.UNWIND) -> Order:
    row = Exchange.objects.get(name=exchange)
    [order] = orders_write(orders=[Order(
        exchange=row, market=Market.objects.get(base="BTC", quote="IRR"),
        client_order_id=new_client_order_id(exchange=row, purpose=purpose), purpose=purpose,
        side="buy",
        quantity=Decimal("0.001"), price=Decimal("99000000000"),
    )], source="test")
    return order


def test_an_order_that_could_not_be_sent_is_rejected_with_why(trading_setup):
    # Given an exchange that refuses the connection (nothing can have left)
    Exchange.objects.filter(name="nobitex").update(base_url="http://127.0.0.1:9")
    registry.clear_cache()
    order = _written("nobitex")

    # When the order is sent
    report = order_submit(order=order, source="test")

    # Then it is rejected as never sent, the error's kind on its history
    order.refresh_from_db()
    assert report is None
    assert order.status == OrderState.REJECTED
    assert order.status_reason.startswith("not sent:")
    event = order.events.order_by("-id").first()
    assert event.payload["error"] == "TransientError"


def test_an_unexpected_error_while_sending_leaves_the_order_unknown(trading_setup,
                                                                     monkeypatch):
    # Given a bug met after the request may have left
    order = _written("wallex")
    adapter = registry.get_adapter(order.exchange)

    def broken(request):
        raise KeyError("a field the parser did not expect")

    monkeypatch.setattr(adapter, "place_order", broken)

    # When the order is sent, nothing is raised to the caller (a sync that
    # unwinds goes on with the next opportunity) and the order is unknown:
    # sync looks it up by client order id rather than assuming it absent
    assert order_submit(order=order, source="test") is None
    order.refresh_from_db()
    assert order.status == OrderState.UNKNOWN
    assert "unexpected KeyError" in order.status_reason
