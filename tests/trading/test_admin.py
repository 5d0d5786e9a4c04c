"""The admin shows every model usefully; history is read-only for all."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from exchanges.states import OrderState
from tests.factories import make_order, make_trade
from trading.models import DailyRiskSnapshot, Opportunity, OrderEvent, RiskSettings
from trading.services.orders import order_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456!")
    client.force_login(user)
    return client


@pytest.fixture
def filled_order():
    order = make_order(quantity=Decimal("1"))
    order_transition(order_id=order.pk, to_status=OrderState.OPEN, source="executor",
                     exchange_order_id="EX-1")
    order_transition(order_id=order.pk, to_status=OrderState.FILLED, source="sync")
    make_trade(order=order, exchange_trade_id="TR-1")
    return order


@pytest.mark.parametrize("model", ["order", "orderevent", "trade", "opportunity",
                                   "dailyrisksnapshot", "risksettings"])
def test_every_trading_list_page_renders(admin_client, filled_order, model):
    RiskSettings.load()
    response = admin_client.get(reverse(f"admin:trading_{model}_changelist"))
    assert response.status_code == 200


def test_an_order_shows_its_events_inline(admin_client, filled_order):
    response = admin_client.get(reverse("admin:trading_order_change", args=[filled_order.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "executor" in body and "sync" in body  # both events' sources
    assert "TR-1" in body  # and its fill


@pytest.mark.parametrize("model", ["orderevent", "trade"])
def test_history_is_read_only_even_for_a_superuser(admin_client, filled_order, model):
    obj = (OrderEvent.objects.first() if model == "orderevent" else filled_order.trades.first())
    assert admin_client.get(reverse(f"admin:trading_{model}_add")).status_code == 403
    delete = admin_client.post(reverse(f"admin:trading_{model}_delete", args=[obj.pk]),
                               {"post": "yes"})
    assert delete.status_code == 403
    change = admin_client.post(reverse(f"admin:trading_{model}_change", args=[obj.pk]), {})
    assert change.status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("model", ["order", "orderevent", "trade", "opportunity",
                                   "dailyrisksnapshot"])
def test_bulk_delete_is_off(admin_client, filled_order, model):
    response = admin_client.get(reverse(f"admin:trading_{model}_changelist"))
    assert b"delete_selected" not in response.content


def test_order_status_cannot_be_edited_in_the_admin(admin_client, filled_order):
    url = reverse("admin:trading_order_change", args=[filled_order.pk])
    form = {"notes": "checked by hand", "status": "open", "filled_quantity": "0"}
    for prefix in ("events", "trades"):  # the read-only inlines' management forms
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    filled_order.refresh_from_db()
    assert filled_order.status == OrderState.FILLED
    assert filled_order.filled_quantity == Decimal("1")
    assert filled_order.notes == "checked by hand"


def test_list_pages_do_not_query_per_row(admin_client, django_assert_max_num_queries):
    for _ in range(30):
        order = make_order()
        make_trade(order=order)
    with django_assert_max_num_queries(15):
        admin_client.get(reverse("admin:trading_trade_changelist"))
    with django_assert_max_num_queries(15):
        admin_client.get(reverse("admin:trading_order_changelist"))


def test_risk_settings_is_a_single_row(admin_client):
    RiskSettings.load()
    assert admin_client.get(reverse("admin:trading_risksettings_add")).status_code == 403
    assert DailyRiskSnapshot.objects.count() == 0
    assert Opportunity.objects.count() == 0


@pytest.mark.parametrize("model", ["reportday", "opportunityrollup", "traderollup"])
def test_report_rollups_are_shown_read_only(admin_client, model):
    assert admin_client.get(reverse(f"admin:trading_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:trading_{model}_add")).status_code == 403
