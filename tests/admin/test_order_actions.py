"""Cancel and resync from the order list, against the sandbox over HTTP."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.factories import make_order
from trading.services.orders import order_apply_report

pytestmark = pytest.mark.django_db(transaction=True)

RESTING_BUY = Decimal("99000000000")  # below the static ask: rests on the book


def place_resting_order(exchange_name: str = "nobitex"):
    """An order written first, then placed on the sandbox, resting on its book."""
    exchange = Exchange.objects.get(name=exchange_name)
    order = make_order(exchange=exchange, market=Market.objects.get(base="BTC", quote="IRR"),
                       side="buy", quantity=Decimal("0.01"), price=RESTING_BUY)
    report = get_adapter(exchange).place_order(OrderRequest(
        market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT, quantity=order.quantity,
        client_order_id=order.client_order_id, price=order.price))
    return order_apply_report(order=order, report=report, source="executor")


def _select(client, action: str, orders) -> str:
    response = client.post(reverse("admin:trading_order_changelist"), {
        "action": action, "_selected_action": [o.pk for o in orders], "index": 0,
    })
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


@pytest.mark.parametrize("exchange", ["nobitex", "wallex", "invex"])
def test_cancel_selected_orders_from_the_list(trading_setup, operator_client, exchange):
    order = place_resting_order(exchange)
    assert order.status == OrderState.OPEN

    # The list's action leads to a confirmation page; nothing is sent yet.
    confirm_url = _select(operator_client, "cancel_selected", [order])
    page = operator_client.get(confirm_url).content.decode()
    assert order.client_order_id in page and "Cancel 1 order" in page
    order.refresh_from_db()
    assert order.status == OrderState.OPEN

    operator_client.post(confirm_url, {"reason": "stale quote"})

    order.refresh_from_db()
    if exchange == "invex" and order.status == OrderState.OPEN:  # asynchronous cancel
        time.sleep(0.3)
        operator_client.post(reverse("admin:trading_order_resync") + f"?ids={order.pk}")
        order.refresh_from_db()
    assert order.status == OrderState.CANCELLED
    # By the exchange's id: Nobitex finds a client order id among open orders only.
    remote = get_adapter(order.exchange).get_order(exchange_order_id=order.exchange_order_id,
                                                   market="BTC-IRR")
    assert remote.state == OrderState.CANCELLED
    events = list(order.events.order_by("id"))
    request = next(e for e in events if e.message == "cancel requested: stale quote")
    assert request.source == "admin:olga" and request.from_status == request.to_status == "open"
    assert any(e.to_status == "cancelled" and e.source == "admin:olga" for e in events)
    assert any("stale quote" in entry.get_change_message()
               for entry in LogEntry.objects.filter(object_id=str(order.pk)))


def test_cancelling_a_final_order_records_the_request_and_changes_nothing(
        trading_setup, operator_client):
    order = make_order(exchange=Exchange.objects.get(name="nobitex"), status="filled",
                       filled_quantity=Decimal("1"))
    url = reverse("admin:trading_order_cancel") + f"?ids={order.pk}"
    response = operator_client.post(url, {"reason": "just in case"}, follow=True)
    order.refresh_from_db()
    assert order.status == OrderState.FILLED
    event = order.events.get()
    assert (event.from_status, event.to_status, event.source) == ("filled", "filled",
                                                                   "admin:olga")
    assert "already filled" in " ".join(str(m) for m in response.context["messages"])


def test_resync_selected_orders(trading_setup, operator_client):
    order = place_resting_order("nobitex")
    get_adapter(order.exchange).cancel_order(client_order_id=order.client_order_id,
                                             exchange_order_id=order.exchange_order_id,
                                             market="BTC-IRR")  # behind our back
    confirm_url = _select(operator_client, "resync_selected", [order])
    assert "Resync 1 order" in operator_client.get(confirm_url).content.decode()
    order.refresh_from_db()
    assert order.status == OrderState.OPEN
    operator_client.post(confirm_url, {"reason": ""})
    order.refresh_from_db()
    assert order.status == OrderState.CANCELLED
    assert order.events.filter(source="admin:olga", message="resync requested").exists()
