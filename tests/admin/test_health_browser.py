"""The control panel's banner and "needs attention" box in real Chromium at
1400 px (issue 12.1): green and empty when healthy; red, at the top, one
line per problem with since when and what to do when the sandbox's 503s
opened a breaker, a periodic task keeps failing, orders are stuck and an
exchange is paused. Screenshots: var/screenshots/panel-healthy.png and
panel-problems.png."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from arbsite.beat import BeatLease
from exchanges.breaker import breaker_state
from exchanges.models import Exchange, Market
from exchanges.registry import clear_cache
from tests.admin.conftest import PASSWORD, make_user
from tests.browser import screenshot
from tests.factories import make_order, make_trade
from trading.alerts.watchdog import beat_heartbeat_record
from trading.services.heartbeat import heartbeat_record
from trading.services.polling import orderbooks_poll
from trading.services.roles import OPERATOR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = "() => document.documentElement.scrollWidth"


def poll() -> None:
    orderbooks_poll(request_detection=lambda: None)


def login(page, live_server) -> None:
    make_user("olga", group=OPERATOR)
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def test_panel_healthy_then_with_problems(trading_setup, settings, live_server, page):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    sandbox = trading_setup
    btc = Market.objects.get(base="BTC", quote="IRR")
    nobitex = Exchange.objects.get(name="nobitex")
    filled = make_order(exchange=nobitex, market=btc, status="filled", exchange_order_id="7")
    make_trade(order=filled, executed_at=timezone.now() - timedelta(seconds=95))
    poll()
    heartbeat_record(role="worker")
    beat_heartbeat_record()
    lease = BeatLease.new()  # as the running beat holds it
    lease.acquire()
    login(page, live_server)

    page.goto(live_server.url + reverse("admin:control_panel"))
    banner = page.locator("#trading-status")
    assert banner.get_attribute("data-status") == "ok"
    assert "Trading: able to trade." in banner.inner_text()
    assert re.search(r"Last trade 9\d s ago", banner.inner_text())
    assert "Nothing: every check passed." in page.locator("#needs-attention").inner_text()
    assert page.evaluate(OVERFLOW) <= 1400
    screenshot(page, "panel-healthy")

    # Problems, each from its real cause.
    sandbox.set_faults("nobitex:down=1")
    for _ in range(10):
        poll()
        if breaker_state("nobitex").state == "open":
            break
    from trading import tasks
    from trading.services.control import exchange_flag_set

    invex = Exchange.objects.get(name="invex")
    Exchange.objects.filter(pk=invex.pk).update(adapter="invexx")  # a bad data fix
    clear_cache()
    for _ in range(4):
        tasks.refresh_balances.apply()
    Exchange.objects.filter(pk=invex.pk).update(adapter="invex")
    clear_cache()
    exchange_flag_set(exchange_id=invex.pk, field="trading_enabled", value=False,
                      user=make_user("root", superuser=True), reason="maintenance")
    wallex = Exchange.objects.get(name="wallex")
    stuck = [make_order(exchange=wallex, market=btc) for _ in range(3)]
    from trading.models import Order

    Order.objects.filter(pk__in=[o.pk for o in stuck]).update(
        created_at=timezone.now() - timedelta(minutes=12))
    heartbeat_record(role="worker")
    beat_heartbeat_record()

    page.goto(live_server.url + reverse("admin:control_panel"))
    banner = page.locator("#trading-status")
    assert banner.get_attribute("data-status") == "unavailable"
    assert "Trading: cannot trade" in banner.inner_text()
    assert "more in “Needs attention” below" in banner.inner_text()
    box = page.locator("#needs-attention")
    rows = box.locator("tbody tr")
    codes = [rows.nth(i).get_attribute("data-code") for i in range(rows.count())]
    assert {"breaker_open", "task_failing", "exchange_paused", "orders_stuck"} <= set(codes)
    # Critical first; the box sits right under the banner, above the kill switch.
    assert rows.nth(0).get_attribute("class") == "critical"
    assert box.bounding_box()["y"] < page.locator("#kill-switch").bounding_box()["y"]
    breaker = box.locator("tr[data-code=breaker_open]")
    assert "Reset breaker…" in breaker.inner_text()
    assert page.evaluate(OVERFLOW) <= 1400
    screenshot(page, "panel-problems")
    sandbox.clear_faults()
    lease.release()
