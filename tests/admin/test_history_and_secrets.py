"""Configuration keeps its history; credentials never appear in any page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from exchanges.models import Exchange, ExchangeMarket
from tests.factories import make_exchange, make_market
from trading.models import RiskSettings

pytestmark = pytest.mark.django_db

API_KEY = "KEY-must-never-show-7f3a9c"
API_SECRET = "SECRET-must-never-show-b81e22"


def _exchange_form(exchange: Exchange, **changes) -> dict:
    form = {"name": exchange.name, "adapter": exchange.adapter, "enabled": "on",
            "trading_enabled": "on", "taker_fee": str(exchange.taker_fee),
            "maker_fee": str(exchange.maker_fee), "base_url": "", "api_key": "",
            "api_secret": "", "notes": "",
            "markets-TOTAL_FORMS": "0", "markets-INITIAL_FORMS": "0",
            "markets-MIN_NUM_FORMS": "0", "markets-MAX_NUM_FORMS": "1000"}
    form.update(changes)
    return form


def test_risk_settings_changes_are_kept_with_who(operator_client, operator):
    row = RiskSettings.load()
    url = reverse("admin:trading_risksettings_change", args=[row.pk])
    form = {f.name: getattr(row, f.name) for f in RiskSettings._meta.fields
            if f.editable and f.name not in ("id", "updated_by", "kill_switch",
                                             "kill_switch_reason", "kill_switch_set_by",
                                             "kill_switch_set_at")}
    form["max_exposure"] = "{}"
    form["max_daily_loss_irr"] = "12345000"
    response = operator_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    latest = RiskSettings.load().history.first()
    assert latest.max_daily_loss_irr == Decimal("12345000")
    assert latest.history_user == operator
    history_page = operator_client.get(
        reverse("admin:trading_risksettings_history", args=[row.pk]))
    assert history_page.status_code == 200 and "olga" in history_page.content.decode()


def test_the_kill_switch_is_not_editable_in_the_settings_form(operator_client):
    row = RiskSettings.load()
    body = operator_client.get(
        reverse("admin:trading_risksettings_change", args=[row.pk])).content.decode()
    assert 'name="kill_switch"' not in body
    assert reverse("admin:control_kill_switch", args=["on"]) in body


def test_exchange_fee_changes_are_kept_with_who(operator_client, operator):
    exchange = make_exchange("wallex")
    url = reverse("admin:exchanges_exchange_change", args=[exchange.pk])
    response = operator_client.post(url, _exchange_form(exchange, taker_fee="0.003"))
    assert response.status_code == 302, response.content.decode()[:3000]
    latest = exchange.history.first()
    assert latest.taker_fee == Decimal("0.003") and latest.history_user == operator


def test_market_listing_changes_are_kept(operator_client, operator):
    listing = ExchangeMarket.objects.create(exchange=make_exchange("nobitex"),
                                            market=make_market("BTC", "IRR"), symbol="BTCIRT")
    url = reverse("admin:exchanges_exchangemarket_change", args=[listing.pk])
    response = operator_client.post(url, {
        "exchange": listing.exchange_id, "market": listing.market_id, "symbol": "BTCIRT",
        "price_scale": "1", "amount_step": "0.0001", "price_tick": "10",
        "min_order_value": "0"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert listing.history.first().amount_step == Decimal("0.0001")
    assert listing.history.first().history_user == operator


def test_credentials_are_never_in_any_admin_page(client, django_user_model):
    from tests.admin.conftest import make_user

    boss = make_user("boss", superuser=True)
    client.force_login(boss)
    exchange = make_exchange("invex")
    client.post(reverse("admin:exchanges_exchange_change", args=[exchange.pk]),
                _exchange_form(exchange, api_key=API_KEY, api_secret=API_SECRET,
                               taker_fee="0.004"))
    exchange.refresh_from_db()
    assert (exchange.api_key, exchange.api_secret) == (API_KEY, API_SECRET)

    # A blank field keeps the stored value.
    client.post(reverse("admin:exchanges_exchange_change", args=[exchange.pk]),
                _exchange_form(exchange, notes="blank keeps"))
    exchange.refresh_from_db()
    assert exchange.api_key == API_KEY

    pages = [
        reverse("admin:exchanges_exchange_changelist"),
        reverse("admin:exchanges_exchange_change", args=[exchange.pk]),
        reverse("admin:exchanges_exchange_history", args=[exchange.pk]),
        reverse("admin:control_panel"),
        reverse("admin:control_exchange", args=[exchange.pk, "pause"]),
        reverse("admin:admin_logentry_changelist"),
        reverse("admin:index"),
        reverse("healthz"),
    ]
    for history in exchange.history.all():
        pages.append(reverse("admin:exchanges_exchange_simple_history",
                             args=[exchange.pk, history.history_id]))
    for url in pages:
        body = client.get(url).content.decode()
        assert API_KEY not in body and API_SECRET not in body, url
    # Where they come from is said, never what they are.
    assert "the admin" in client.get(
        reverse("admin:exchanges_exchange_changelist")).content.decode()
    assert "from the admin (stored encrypted" in client.get(
        reverse("admin:exchanges_exchange_change", args=[exchange.pk])).content.decode()
