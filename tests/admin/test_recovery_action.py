"""Run recovery from the control panel: a real worker runs it, and the
panel shows its summary beside who asked and why."""

import time
from decimal import Decimal

import pytest
from django.urls import reverse

from arbsite.celery import app as celery_app
from exchanges.models import Exchange, Market
from exchanges.registry import adapter_for
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.factories import make_order
from tests.processes import celery_worker
from trading.services.recovery import recovery_last_summary

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_recovery_from_the_panel_adopts_an_unknown_order(trading_setup, operator_client,
                                                         tmp_path, monkeypatch):
    # Given an order resting on Nobitex that the database only knows as unknown
    adapter_for("nobitex").place_order(OrderRequest(
        market="BTC-IRR", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
        client_order_id="lost-answer-1", price=Decimal("99000000000")))
    order = make_order(exchange=Exchange.objects.get(name="nobitex"),
                       market=Market.objects.get(base="BTC", quote="IRR"),
                       client_order_id="lost-answer-1", quantity=Decimal("0.01"),
                       price=Decimal("99000000000"), status=OrderState.UNKNOWN)
    url = reverse("admin:control_exchange",
                  args=[Exchange.objects.get(name="nobitex").pk, "recover"])

    with celery_worker(name="recovery", log_path=tmp_path / "worker.log",
                       ARBSITE_STARTUP_RECOVERY="0") as worker:
        # Both spellings: celery 5.6 reads the CELERY_-namespaced key.
        monkeypatch.setitem(celery_app.conf, "task_default_queue", worker.queue)
        monkeypatch.setitem(celery_app.conf, "CELERY_TASK_DEFAULT_QUEUE", worker.queue)
        # When an operator confirms "run recovery" with a reason
        operator_client.post(url, {"reason": "worker crashed at 10:02"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not recovery_last_summary("nobitex"):
            time.sleep(0.2)

    # Then the order is adopted with the exchange's id and state, and the
    # panel shows the request and the recovery's summary
    order.refresh_from_db()
    assert order.status == OrderState.OPEN and order.exchange_order_id
    assert "adopted 1" in recovery_last_summary("nobitex")
    panel = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "worker crashed at 10:02" in panel and "adopted 1" in panel
