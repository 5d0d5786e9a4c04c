"""The operator's lists at 1400 px in real Chromium (issue 12 item 5): the
order list, the opportunity list and the audit log fit the page with their
status, price and P&L in view, on rows as wide as real ones get; an
opportunity's page shows its decision as a table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from exchanges.client_ids import new_client_order_id
from exchanges.models import ExchangeMarket
from tests.admin.conftest import PASSWORD, make_user
from tests.browser import screenshot
from tests.factories import make_exchange, make_market, make_opportunity, make_order
from tests.trading.test_display import DETAILS
from trading import display
from trading.models import Order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
D = Decimal
WIDTH = 1400

# The page's width, and the changelist's scrolling container's (Django's
# .results scrolls sideways when the table is wider than the page gives it).
WIDTHS = """() => {
  const results = document.querySelector('#changelist .results');
  return {page: document.documentElement.scrollWidth,
          results: results ? results.scrollWidth : 0,
          shown: results ? results.clientWidth : 0};
}"""


@pytest.fixture
def wide_rows(db):
    """Rows as wide as the demo's get: 100-billion-rial prices, full client
    order ids, unwinds, tags, partial fills, long reasons."""
    display.display_cache_clear()
    exchanges = [make_exchange("nobitex"), make_exchange("wallex"), make_exchange("invex")]
    markets = [make_market("BTC", "IRR"), make_market("USDT", "IRR"), make_market("ETH", "IRR")]
    for exchange in exchanges:
        for market, step in zip(markets, ("0.000001", "0.01", "0.00001"), strict=True):
            ExchangeMarket.objects.create(exchange=exchange, market=market,
                                          symbol=f"{market.base}{exchange.pk}",
                                          amount_step=D(step), price_tick=D("10"))
    btc = markets[0]
    for i in range(12):
        buy, sell = exchanges[i % 3], exchanges[(i + 1) % 3]
        opportunity = make_opportunity(
            market=btc, buy=buy, sell=sell, quantity=D("0.001031"),
            buy_price=D("100436611800"), sell_price=D("101463311830"), details=DETAILS,
            expected_profit=D("1199814.8123"), expected_profit_pct=D("1.218"),
            status=["partial", "unwound", "failed", "done"][i % 4],
            realized_pnl=D("-10980602.0981") if i % 2 else D("1115712.64"),
            reason=(f"sell on {sell.name}: partially filled after 0.000500 BTC of 0.001031 BTC "
                    f"filled at 101,463,311,830 rial within 1,250 ms (wallex: HTTP 400 [1107] "
                    f"POST /v1/account/orders: client_id may contain only A-Z, 0-9 and _); "
                    f"buy on {buy.name}: rejected"))
        for side, exchange, purpose in (("buy", buy, "entry"), ("sell", sell, "entry"),
                                        ("sell", buy, "unwind")):
            make_order(exchange=exchange, market=btc, opportunity=opportunity, side=side,
                       purpose=purpose,
                       client_order_id=new_client_order_id(exchange_kind=exchange.name,
                                                           purpose=purpose),
                       quantity=D("0.001031"), price=D("101463311830.000000000000000000"),
                       status="partially_filled", filled_quantity=D("0.000517"),
                       average_price=D("100436611803.6"), tags="checked, dispute",
                       is_external=purpose == "unwind")
    boss = make_user("boss", superuser=True)
    for order in Order.objects.all()[:10]:
        LogEntry.objects.log_actions(
            user_id=boss.pk, queryset=[order], action_flag=CHANGE,
            change_message=("Cancel: now cancelled; the exchange answered HTTP 422 "
                            "[value_error.order_not_open] https://invex.ir/trading/v1/orders/"
                            "cancel?client_order_id=" + order.client_order_id + " Reason: "
                            "price moved away by more than the unwind limit, checked by hand "
                            "against the exchange's own order page"))
    return exchanges


@pytest.fixture
def logged_in(page, live_server, wide_rows):
    make_user("olga", group="operator")
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#control-panel-link")
    return page


@pytest.mark.parametrize("name, url_name, visible", [
    ("orders", "admin:trading_order_changelist",
     ("th.column-status_shown", "th.column-price_shown", "th.column-average_shown")),
    ("opportunities", "admin:trading_opportunity_changelist",
     ("th.column-status_shown", "th.column-expected", "th.column-realized")),
    ("auditlog", "admin:admin_logentry_changelist", ("th.column-what_and_why",)),
])
def test_the_list_fits_1400_px(logged_in, live_server, name, url_name, visible):
    page = logged_in
    page.goto(live_server.url + reverse(url_name))
    page.wait_for_selector("#result_list tbody tr")

    widths = page.evaluate(WIDTHS)
    screenshot(page, f"list-{name}-1400")
    assert widths["page"] <= WIDTH, widths
    assert widths["results"] <= widths["shown"], widths  # no sideways scrolling
    for selector in visible:  # the columns that matter are in view, not scrolled off
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] + box["width"] <= WIDTH, (selector, box)


def test_the_opportunity_page_shows_its_decision_table(logged_in, live_server):
    page = logged_in
    opportunity = Order.objects.exclude(opportunity=None).first().opportunity
    page.goto(live_server.url + reverse("admin:trading_opportunity_change",
                                        args=[opportunity.pk]))

    table = page.locator("#decision table.arb-caps")
    assert table.is_visible()
    assert "binds" in page.locator("#decision tr.arb-binding").inner_text()
    assert page.locator("#decision table.arb-levels").count() == 2
    assert "99,319,622,570 rial" in page.locator("#decision").inner_text()
    assert not page.locator("#decision details pre").is_visible()  # the JSON: on demand
    assert page.evaluate(WIDTHS)["page"] <= WIDTH
    screenshot(page, "opportunity-1400")
