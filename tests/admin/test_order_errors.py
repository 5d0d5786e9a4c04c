"""The admin's order actions with an order the database refuses to change:
a message, never a 500; the others are done; the bad one is flagged, shown
in the list and filterable, and an operator can mark it checked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from exchanges.models import Exchange, Market
from exchanges.registry import get_adapter
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.db_faults import status_change_refused
from tests.factories import make_order
from trading.models import OrderEventKind

pytestmark = pytest.mark.django_db(transaction=True)

CROSSING_BUY = Decimal("100100000000")  # above the static ask: fills at once


def _lost_answer(exchange: str):
    order = make_order(exchange=Exchange.objects.get(name=exchange),
                       market=Market.objects.get(base="BTC", quote="IRR"), side="buy",
                       quantity=Decimal("0.01"), price=CROSSING_BUY, status=OrderState.UNKNOWN)
    report = get_adapter(order.exchange).place_order(OrderRequest(
        market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT, quantity=order.quantity,
        client_order_id=order.client_order_id, price=order.price))
    order.exchange_order_id = report.exchange_order_id  # known: resync asks by it
    order.save(update_fields=["exchange_order_id"])
    return order


def test_resync_with_a_failing_order_shows_a_message_and_does_the_others(
        trading_setup, operator_client, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    good, bad = _lost_answer("wallex"), _lost_answer("invex")
    url = reverse("admin:trading_order_resync") + f"?ids={good.pk},{bad.pk}"

    with status_change_refused(order_id=bad.pk):
        response = operator_client.post(url, {"reason": ""}, follow=True)

    assert response.status_code == 200
    text = response.content.decode()
    assert "Resync of 2 order(s)" in text and "IntegrityError" in text
    assert "needs a human" in text
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == OrderState.FILLED and not good.needs_human
    assert bad.status == OrderState.UNKNOWN and bad.needs_human
    assert bad.events.filter(kind=OrderEventKind.ERROR).exists()

    # The list shows it and filters on it
    listing = operator_client.get(reverse("admin:trading_order_changelist"),
                                  {"needs_human__exact": "1"}).content.decode()
    assert bad.client_order_id in listing and good.client_order_id not in listing
    assert "needs a human" in listing

    # An operator who has looked marks it checked, with a reason
    url = reverse("admin:trading_order_checked") + f"?ids={bad.pk}"
    operator_client.post(url, {"reason": "looked at invex's history: filled"})
    bad.refresh_from_db()
    assert not bad.needs_human
    assert bad.events.filter(kind=OrderEventKind.CHECKED,
                             message__contains="looked at invex").exists()

