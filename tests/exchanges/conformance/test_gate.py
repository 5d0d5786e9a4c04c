"""The trading gate: an exchange not on the project's sandbox places no new
order until its conformance check passed at its base URL, or an operator
overrode the gate (its own permission, a reason, a confirmation page);
``ARBSITE_CONFORMANCE_REQUIRED=false`` switches it off, loudly."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core import checks
from django.urls import reverse
from django.utils import timezone

from exchanges.conformance.gate import conformance_blocker, conformance_state
from exchanges.models import Exchange
from tests.admin.conftest import make_user
from tests.factories import make_exchange, make_market, make_opportunity
from trading.detection.inputs import listings_read
from trading.models import Opportunity, Order
from trading.services.execution import opportunity_execute

pytestmark = pytest.mark.django_db

REAL = "https://apiv2.nobitex.ir"


def unchecked(name: str = "nobitex", base_url: str = REAL, **fields) -> Exchange:
    return make_exchange(name, base_url=base_url, conformance_state="never", **fields)


def passed(exchange: Exchange, url: str) -> Exchange:
    exchange.conformance_state = Exchange.Conformance.PASSED
    exchange.conformance_checked_at = timezone.now()
    exchange.conformance_base_url = url
    exchange.save()
    return exchange


def listing(exchange: Exchange, market) -> None:
    from exchanges.catalog import default_listing
    from exchanges.models import ExchangeMarket

    d = default_listing(exchange.adapter, market.base, market.quote)
    ExchangeMarket.objects.create(exchange=exchange, market=market, symbol=d.symbol,
                                  price_scale=d.price_scale, amount_step=d.amount_step,
                                  price_tick=d.price_tick, min_order_value=d.min_order_value)


def test_an_exchange_on_a_real_host_is_refused_until_its_check_passed_there():
    nobitex = unchecked()
    assert "never checked" in conformance_blocker(nobitex)
    nobitex.conformance_state = Exchange.Conformance.FAILED
    nobitex.conformance_checked_at = timezone.now()
    nobitex.conformance_base_url = REAL
    nobitex.conformance_failed = "nobitex-not-found: unrecognised: HTTP 500 …\nsecond point"
    state = conformance_state(nobitex)
    assert not state.allowed and state.state == "failed"
    assert "nobitex-not-found: unrecognised" in conformance_blocker(nobitex)

    passed(nobitex, "https://testnetapiv2.nobitex.ir")  # a pass elsewhere does not count
    assert conformance_state(nobitex).state == "elsewhere"
    assert conformance_blocker(nobitex) is not None

    passed(nobitex, REAL + "/")
    assert conformance_blocker(nobitex) is None
    assert conformance_state(nobitex).label.startswith("passed at")


def test_the_sandbox_needs_no_check(settings):
    assert conformance_blocker(unchecked("nobitex", "http://127.0.0.1:8800/nobitex")) is None
    settings.EXCHANGE_SANDBOX_URLS = ["http://sandbox.internal:8800"]
    wallex = unchecked("wallex", "http://sandbox.internal:8800/wallex")
    assert conformance_state(wallex).state == "sandbox"
    assert conformance_blocker(unchecked("invex", "https://sandbox.invex.ir/trading/v1"))


def test_detection_and_execution_leave_a_gated_exchange_out():
    btc = make_market("BTC", "IRR")
    nobitex, wallex = unchecked("nobitex"), make_exchange("wallex")
    invex = make_exchange("invex")
    for exchange in (nobitex, wallex, invex):
        listing(exchange, btc)
    markets, exchanges, _ = listings_read()
    assert set(exchanges) == {"wallex", "invex"}
    assert [lst.exchange for lst in markets[0].listings] == ["invex", "wallex"]

    opportunity = make_opportunity(market=btc, buy=nobitex, sell=wallex,
                                   quantity=Decimal("0.001"), buy_price=Decimal("100"),
                                   sell_price=Decimal("110"))
    result = opportunity_execute(opportunity_id=opportunity.pk)
    assert result.outcome == "refused" and "nobitex: conformance check never checked" in \
        result.detail
    assert not Order.objects.exists()
    assert Opportunity.objects.get(pk=opportunity.pk).status == "rejected"


def test_the_gate_off_lets_it_trade_and_says_so(settings, caplog, client):
    settings.ARBSITE_CONFORMANCE_REQUIRED = False
    nobitex = unchecked()
    assert conformance_blocker(nobitex) is None
    assert conformance_state(nobitex).label == "never checked (gate off)"
    assert [m.id for m in checks.run_checks() if m.id == "exchanges.W001"]
    from django.apps import apps

    with caplog.at_level(logging.WARNING, logger="exchanges"):
        apps.get_app_config("exchanges").ready()
    assert "THE CONFORMANCE GATE IS OFF" in caplog.text
    health = client.get("/healthz").json()
    assert health["conformance_required"] is False
    assert health["exchanges"]["nobitex"]["conformance"]["allowed"] is True


def test_healthz_and_the_panel_show_each_exchange_s_state(client):
    unchecked("nobitex")
    wallex = unchecked("wallex", "https://api.wallex.ir")
    wallex.conformance_state = Exchange.Conformance.FAILED
    wallex.conformance_checked_at = timezone.now()
    wallex.conformance_base_url = "https://api.wallex.ir"
    wallex.conformance_failed = "wallex-cancel: neither answered about the order"
    wallex.save()
    passed(unchecked("invex", "https://invex.ir/trading/v1"), "https://invex.ir/trading/v1")
    health = client.get("/healthz").json()
    states = {name: e["conformance"]["state"] for name, e in health["exchanges"].items()}
    assert states == {"nobitex": "never", "wallex": "failed", "invex": "passed"}
    assert health["exchanges"]["wallex"]["conformance"]["point"].startswith("wallex-cancel")
    assert not health["exchanges"]["nobitex"]["can_trade"]
    assert health["conformance_required"] is True

    boss = make_user("boss", superuser=True)
    client.force_login(boss)
    page = client.get(reverse("admin:control_panel")).content.decode()
    assert "never checked" in page and "failed at" in page and "wallex-cancel" in page
    assert "passed at" in page and "conformance-gate-off" not in page


def test_an_operator_overrides_the_gate_with_a_reason_and_its_own_permission(client):
    nobitex = unchecked()
    url = reverse("admin:exchanges_exchange_conformance_override", args=[nobitex.pk, "set"])
    operator = make_user("olga", superuser=False)
    operator.is_staff = True
    operator.save()
    operator.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_exchange", "change_exchange"]))
    client.force_login(operator)
    assert client.get(url).status_code == 403  # change_exchange is not enough
    assert client.post(url, {"reason": "go"}).status_code == 403

    operator.user_permissions.add(Permission.objects.get(codename="override_conformance"))
    client.force_login(operator)
    page = client.get(url)
    assert page.status_code == 200 and "without a passed conformance check" in page.content.decode()
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert conformance_blocker(Exchange.objects.get(pk=nobitex.pk)) is not None

    response = client.post(url, {"reason": "checked by hand with the exchange's support"})
    assert response.status_code == 302
    nobitex = Exchange.objects.get(pk=nobitex.pk)
    assert conformance_blocker(nobitex) is None
    state = conformance_state(nobitex)
    assert state.state == "overridden" and "olga" in state.label and "support" in state.label
    last = nobitex.history.first()
    assert last.history_user == operator and "overridden" in last.history_change_reason
    assert LogEntry.objects.filter(object_id=str(nobitex.pk),
                                   change_message__contains="support").exists()

    # Pointed elsewhere, the override no longer holds
    nobitex.base_url = "https://testnetapiv2.nobitex.ir"
    assert conformance_blocker(nobitex) is not None

    clear = reverse("admin:exchanges_exchange_conformance_override", args=[nobitex.pk, "clear"])
    assert client.post(clear, {"reason": "check it properly"}).status_code == 302
    assert conformance_blocker(Exchange.objects.get(pk=nobitex.pk)) is not None
