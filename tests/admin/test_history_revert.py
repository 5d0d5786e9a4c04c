"""History reverts: a change permission is the minimum, and the rows whose
fields change only through a confirmed action (risk settings: the kill
switch; exchanges: the base URL and its credentials) are never reverted."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from exchanges.models import Exchange, ExchangeMarket
from tests.admin.walk import main_form
from tests.factories import make_exchange, make_market
from trading.models import RiskSettings
from trading.services.risk import kill_switch_set

pytestmark = pytest.mark.django_db


def _post_form(client, url: str, **changes):
    page = client.get(url)
    assert page.status_code == 200
    fields = dict(main_form(page.content.decode())[0])
    fields.update(changes)
    return client.post(url, fields)


def _risk_with_history() -> RiskSettings:
    row = RiskSettings.load()
    row.save()  # the version from before the kill switch
    kill_switch_set(active=True, reason="exchange outage", actor="admin:olga")
    return row


def _oldest(row):
    return row.history.order_by("history_id").first()


def test_a_viewer_cannot_revert_risk_settings(viewer_client):
    # Given the kill switch on, and a version of the row from before it.
    row = _risk_with_history()
    url = reverse("admin:trading_risksettings_simple_history",
                  args=[row.pk, _oldest(row).history_id])

    # When a viewer submits the revert form with a huge loss limit.
    response = _post_form(viewer_client, url, max_daily_loss_irr="999999999999")

    # Then it is refused: the kill switch stays on, the limit unchanged.
    assert response.status_code == 403
    row = RiskSettings.load()
    assert row.kill_switch and row.kill_switch_reason == "exchange outage"
    assert row.max_daily_loss_irr == Decimal("50000000")


def test_risk_settings_are_never_reverted_even_by_an_operator(operator_client):
    row = _risk_with_history()
    url = reverse("admin:trading_risksettings_simple_history",
                  args=[row.pk, _oldest(row).history_id])
    page = operator_client.get(url)
    assert page.status_code == 200 and "Revert" not in page.context["title"]
    assert 'name="_save"' not in page.content.decode()
    assert _post_form(operator_client, url).status_code == 403
    assert RiskSettings.load().kill_switch


def test_exchanges_are_never_reverted(client):
    from tests.admin.conftest import make_user

    client.force_login(make_user("boss", superuser=True))
    exchange = make_exchange("nobitex", base_url="https://apiv2.nobitex.ir")
    exchange.base_url = ""
    exchange.save()
    url = reverse("admin:exchanges_exchange_simple_history",
                  args=[exchange.pk, _oldest(exchange).history_id])
    assert _post_form(client, url).status_code == 403
    assert Exchange.objects.get(pk=exchange.pk).base_url == ""


def test_an_operator_reverts_a_listing_and_a_viewer_cannot(operator_client, viewer):
    listing = ExchangeMarket.objects.create(exchange=make_exchange("wallex"),
                                            market=make_market("BTC", "IRR"), symbol="BTCTMN",
                                            price_scale=Decimal("10"))
    listing.min_order_value = Decimal("5000")
    listing.save()
    url = reverse("admin:exchanges_exchangemarket_simple_history",
                  args=[listing.pk, _oldest(listing).history_id])

    from django.test import Client

    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert _post_form(viewer_client, url).status_code == 403
    assert ExchangeMarket.objects.get(pk=listing.pk).min_order_value == Decimal("5000")

    assert _post_form(operator_client, url).status_code == 302
    assert ExchangeMarket.objects.get(pk=listing.pk).min_order_value == Decimal("0")
