"""Each control action: a confirmation page first, then its effect, a
message and its audit records (LogEntry, history, OrderEvent)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from exchanges.breaker import CircuitBreaker, breaker_reset, breaker_state
from exchanges.models import Exchange, Market
from exchanges.states import OrderState
from tests.factories import make_exchange, make_market, make_order
from trading.models import OrderEvent, RiskSettings
from trading.services import control

pytestmark = pytest.mark.django_db


def _log(obj) -> LogEntry:
    return LogEntry.objects.filter(object_id=str(obj.pk)).latest("action_time")


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_trip_kill_switch_confirm_then_act(operator_client, operator):
    url = reverse("admin:control_kill_switch", args=["on"])

    # Given the confirmation page: it asks, and nothing has happened yet.
    page = operator_client.get(url)
    assert page.status_code == 200
    assert "Stop all trading?" in page.content.decode()
    assert not RiskSettings.load().kill_switch

    # A POST without a reason is refused.
    refused = operator_client.post(url, {"reason": "  "})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert not RiskSettings.load().kill_switch

    # When confirmed with a reason.
    done = operator_client.post(url, {"reason": "Nobitex maintenance"}, follow=True)

    # Then it is on, with who and why, a message, a LogEntry and a history row.
    row = RiskSettings.load()
    assert row.kill_switch and row.kill_switch_set_by == "admin:olga"
    assert row.kill_switch_reason == "Nobitex maintenance"
    assert "Kill switch tripped" in _messages(done)
    assert "Nobitex maintenance" in _log(row).get_change_message()
    assert _log(row).user == operator
    assert row.history.first().history_user == operator
    assert "ON" in done.content.decode() and "admin:olga" in done.content.decode()


def test_tripping_twice_changes_nothing(operator_client):
    url = reverse("admin:control_kill_switch", args=["on"])
    operator_client.post(url, {"reason": "first"})
    again = operator_client.post(url, {"reason": "second"}, follow=True)
    assert RiskSettings.load().kill_switch_reason == "first"
    assert "already on" in _messages(again)


def test_reset_kill_switch(operator_client):
    control.kill_switch_change(active=True, user=_user("risk-bot"), reason="loss")
    operator_client.post(reverse("admin:control_kill_switch", args=["off"]),
                         {"reason": "checked the books"})
    row = RiskSettings.load()
    assert not row.kill_switch and row.kill_switch_set_by == "admin:olga"


def _user(name):
    from tests.admin.conftest import make_user

    return make_user(name)


@pytest.mark.parametrize(("op", "field", "value"), [
    ("pause", "trading_enabled", False), ("disable", "enabled", False),
])
def test_pause_and_resume_an_exchange(operator_client, operator, op, field, value):
    exchange = make_exchange("wallex")
    url = reverse("admin:control_exchange", args=[exchange.pk, op])
    assert operator_client.get(url).status_code == 200
    exchange.refresh_from_db()
    assert getattr(exchange, field) is True  # nothing before the POST

    operator_client.post(url, {"reason": "withdrawals frozen"})
    exchange.refresh_from_db()
    assert getattr(exchange, field) is value
    history = exchange.history.first()
    assert history.history_user == operator
    assert history.history_change_reason == "withdrawals frozen"
    assert "withdrawals frozen" in _log(exchange).get_change_message()

    back = {"pause": "resume", "disable": "enable"}[op]
    operator_client.post(reverse("admin:control_exchange", args=[exchange.pk, back]),
                         {"reason": "back to normal"})
    exchange.refresh_from_db()
    assert getattr(exchange, field) is True
    assert exchange.history.count() >= 3


def test_pause_a_market(operator_client, operator):
    market = make_market("ETH", "IRR")
    url = reverse("admin:control_market", args=[market.pk, "pause"])
    assert "Stop fetching and trading ETH-IRR" in operator_client.get(url).content.decode()
    operator_client.post(url, {"reason": "delisting"})
    market.refresh_from_db()
    assert not market.enabled
    assert market.history.first().history_user == operator
    assert Market.objects.get(pk=market.pk).enabled is False


def test_reset_a_breaker(operator_client):
    exchange = make_exchange("invex")
    breaker = CircuitBreaker("invex", threshold=2)
    breaker.record_failure("timeout")
    breaker.record_failure("timeout")
    assert breaker_state("invex").state == "open"
    url = reverse("admin:control_exchange", args=[exchange.pk, "reset-breaker"])
    operator_client.get(url)
    assert breaker_state("invex").state == "open"
    done = operator_client.post(url, {"reason": "exchange is back"}, follow=True)
    assert breaker_state("invex").state == "closed"
    assert "reset" in _messages(done)
    assert "exchange is back" in _log(exchange).get_change_message()
    breaker_reset("invex")


def test_run_recovery_enqueues_the_task(operator_client, monkeypatch):
    exchange = make_exchange("nobitex")
    sent = []

    class Result:
        id = "task-123"

    def send_task(name, args=None, kwargs=None, **_):  # Celery's signature
        sent.append((name, kwargs))
        return Result()

    monkeypatch.setattr("arbsite.celery.app.send_task", send_task)
    url = reverse("admin:control_exchange", args=[exchange.pk, "recover"])
    operator_client.get(url)
    assert sent == []
    operator_client.post(url, {"reason": "after the outage"})
    assert sent == [("trading.recover_orders", {"exchange": "nobitex"})]
    request = control.recovery_last_request("nobitex")
    assert request["requested_by"] == "admin:olga" and request["task_id"] == "task-123"
    panel = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "after the outage" in panel


def test_resolve_an_unknown_order_by_hand(operator_client, operator):
    order = make_order(status=OrderState.UNKNOWN)
    url = reverse("admin:trading_order_resolve", args=[order.pk])
    page = operator_client.get(url).content.decode()
    assert "Resolve order" in page and 'value="cancelled"' in page
    order.refresh_from_db()
    assert order.status == OrderState.UNKNOWN

    operator_client.post(url, {"to_status": "cancelled", "reason": "support ticket #42"})
    order.refresh_from_db()
    assert order.status == OrderState.CANCELLED
    event = order.events.latest("id")
    assert (event.from_status, event.to_status) == ("unknown", "cancelled")
    assert event.source == "admin:olga" and event.message == "support ticket #42"
    assert "support ticket #42" in _log(order).get_change_message()


def test_resolve_as_filled_with_its_fill(operator_client):
    order = make_order(status=OrderState.UNKNOWN, quantity=Decimal("2"))
    operator_client.post(reverse("admin:trading_order_resolve", args=[order.pk]),
                         {"to_status": "partially_filled", "filled_quantity": "0.5",
                          "reason": "exchange statement"})
    order.refresh_from_db()
    assert order.status == OrderState.PARTIALLY_FILLED
    assert order.filled_quantity == Decimal("0.5")


def test_a_normal_open_order_is_not_resolved_by_hand(operator_client):
    order = make_order(status=OrderState.OPEN)
    response = operator_client.post(reverse("admin:trading_order_resolve", args=[order.pk]),
                                    {"to_status": "cancelled", "reason": "no"}, follow=True)
    order.refresh_from_db()
    assert order.status == OrderState.OPEN
    assert "nothing to resolve" in _messages(response)
    assert not OrderEvent.objects.filter(order=order).exists()


def test_order_notes_and_tags_are_editable_nothing_else(operator_client):
    order = make_order(status=OrderState.OPEN)
    url = reverse("admin:trading_order_change", args=[order.pk])
    form = {"notes": "watch it", "tags": "Dispute, checked ,dispute", "status": "filled",
            "quantity": "99", "price": "1", "client_order_id": "evil"}
    for prefix in ("events", "trades"):
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    assert operator_client.post(url, form).status_code == 302
    order.refresh_from_db()
    assert (order.notes, order.tags) == ("watch it", "dispute, checked")
    assert order.status == OrderState.OPEN and order.quantity == Decimal("1")
    assert order.client_order_id != "evil"


def test_audit_log_lists_actions_read_only(operator_client):
    operator_client.post(reverse("admin:control_kill_switch", args=["on"]), {"reason": "drill"})
    page = operator_client.get(reverse("admin:admin_logentry_changelist")).content.decode()
    assert "drill" in page and "olga" in page
    entry = LogEntry.objects.latest("action_time")
    assert operator_client.post(reverse("admin:admin_logentry_delete", args=[entry.pk]),
                                {"post": "yes"}).status_code == 403
    assert Exchange.objects.count() == 0  # nothing else was touched
