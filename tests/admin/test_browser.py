"""The operator's path in real headless Chromium: log in, trip the kill
switch through its confirmation page, see it on the control panel and in
the audit log; cancel an order (resting on the sandbox) from the order list."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from exchanges.states import OrderState
from tests.admin.conftest import PASSWORD, make_user
from tests.admin.test_order_actions import place_resting_order
from tests.browser import screenshot
from trading.models import RiskSettings
from trading.services.heartbeat import heartbeat_record
from trading.services.polling import exchange_status_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def logged_in(page, live_server, trading_setup):
    make_user("olga", group="operator")
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#control-panel-link")
    return page


def test_operator_trips_the_kill_switch_and_finds_it_in_the_audit_log(logged_in, live_server):
    page = logged_in
    for name in ("nobitex", "wallex", "invex"):
        exchange_status_record(name, ok=True)
    exchange_status_record("invex", ok=False, error="HTTP 502 from the sandbox (demo)")
    heartbeat_record(role="worker")
    place_resting_order("nobitex")

    page.click("#control-panel-link a.section")
    page.wait_for_selector("#kill-switch")
    page.click("#trip-kill-switch")

    # The confirmation page: nothing has happened yet.
    page.wait_for_selector("#confirm-action")
    assert "Stop all trading?" in page.content()
    assert not RiskSettings.load().kill_switch
    page.fill("#id_reason", "Spread data looks wrong on wallex")
    page.click("#confirm-action")

    page.wait_for_selector("#kill-switch")
    panel = page.inner_text("#kill-switch")
    assert "ON" in panel and "admin:olga" in panel
    assert "Spread data looks wrong on wallex" in panel
    assert "Kill switch tripped" in page.inner_text("ul.messagelist")
    assert "cannot trade" in page.inner_text("#trading-status")
    path = screenshot(page, "control-panel")
    assert path.exists() and path.stat().st_size > 10_000

    page.goto(live_server.url + reverse("admin:admin_logentry_changelist"))
    log = page.inner_text("#result_list")
    assert "olga" in log and "Spread data looks wrong on wallex" in log
    assert RiskSettings.load().kill_switch_set_by == "admin:olga"


def test_operator_cancels_an_order_from_the_order_list(logged_in, live_server):
    page = logged_in
    order = place_resting_order("nobitex")
    page.goto(live_server.url + reverse("admin:trading_order_changelist"))
    page.check(f"input[name=_selected_action][value='{order.pk}']")
    page.select_option("select[name=action]", "cancel_selected")
    page.click("button[name=index]")

    page.wait_for_selector("#confirm-action")
    assert order.client_order_id in page.content()
    order.refresh_from_db()
    assert order.status == OrderState.OPEN
    page.fill("#id_reason", "Price moved away")
    page.click("#confirm-action")

    page.wait_for_selector("ul.messagelist")
    assert re.search(r"now cancelled", page.inner_text("ul.messagelist"))
    order.refresh_from_db()
    assert order.status == OrderState.CANCELLED
    page.goto(live_server.url + reverse("admin:trading_order_change", args=[order.pk]))
    history = page.inner_text("#events-group")
    assert "admin:olga" in history and "cancel requested: Price moved away" in history
    screenshot(page, "order-cancelled")


def test_operator_acknowledges_an_alert_from_the_control_panel(logged_in, live_server):
    from trading.alerts.kinds import AlertKind
    from trading.alerts.models import Alert
    from trading.alerts.services import alert_raise
    from trading.capital.models import CapitalBudget

    page = logged_in
    heartbeat_record(role="worker")
    for name in ("nobitex", "wallex"):
        exchange_status_record(name, ok=True)
    from exchanges.models import Exchange
    from trading.services.polling import balances_refresh

    balances_refresh()
    invex = Exchange.objects.get(name="invex")
    down = alert_raise(kind=AlertKind.EXCHANGE_DOWN, subject="exchange:invex", exchange=invex,
                       title="invex is down: unreachable for 12 min",
                       message="Exchange-down mode: no new opportunities on invex; its "
                               "capital is shown at risk on the control panel.")
    alert_raise(kind=AlertKind.LEDGER_MISMATCH, subject="ledger:wallex:BTC",
                title="Ledger mismatch on wallex: BTC off by -0.012")
    CapitalBudget.objects.create(exchange=invex, max_value_irr=10**12)

    page.click("#control-panel-link a.section")
    page.wait_for_selector("#open-alerts")
    assert "invex is down" in page.inner_text("#open-alerts")
    page.click(f"#ack-alert-{down.pk}")

    page.wait_for_selector("#confirm-action")
    assert "invex is down" in page.content()
    assert Alert.objects.get(pk=down.pk).state == "open"
    page.fill("#id_reason", "Invex announced maintenance; funds stay")
    page.click("#confirm-action")

    page.wait_for_selector("#open-alerts")
    row = page.inner_text(f"#alert-{down.pk}")
    assert "acknowledged by olga" in row and "Invex announced maintenance" in row
    assert "Acknowledged 1 alert" in page.inner_text("ul.messagelist")
    assert Alert.objects.get(pk=down.pk).state == "acknowledged"
    assert "IRR at risk" in page.inner_text("#capital-invex")
    path = screenshot(page, "control-panel-alerts")
    assert path.exists() and path.stat().st_size > 10_000
