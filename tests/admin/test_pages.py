"""Pages an operator can read (issue 12 item 5): figures with separators,
their unit and the decimals their listing calls for; trading-day time with
seconds and the zone; exchanges by name; the decision as tables; the audit
log's what and why; balances and paused markets on the control panel."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from exchanges.models import ExchangeMarket
from exchanges.types import Balance
from tests.factories import make_exchange, make_market, make_opportunity, make_order
from tests.trading.test_display import DETAILS
from trading import display
from trading.models import RiskSettings
from trading.services.balances import balances_store

D = Decimal
pytestmark = pytest.mark.django_db
EIGHTEEN_DECIMALS = re.compile(r"\d\.\d{10,}")


@pytest.fixture
def listed(settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    display.display_cache_clear()
    market = make_market("BTC", "IRR")
    nobitex = make_exchange("nobitex", taker_fee=D("0.0025"))
    wallex = make_exchange("wallex", taker_fee=D("0.004"))
    for exchange, symbol in ((nobitex, "BTCIRT"), (wallex, "BTCTMN")):
        ExchangeMarket.objects.create(exchange=exchange, market=market, symbol=symbol,
                                      amount_step=D("0.000001"), price_tick=D("10"))
    return market, nobitex, wallex


def _visible(html: str) -> str:
    """The page without its <details> (the stored record, shown on demand)."""
    return re.sub(r"<details>.*?</details>", "", html, flags=re.S)


def test_the_order_list_reads_in_units_and_trading_day_time(operator_client, listed):
    market, nobitex, _ = listed
    order = make_order(exchange=nobitex, market=market, side="sell", quantity=D("0.000995"),
                       price=D("97293509161.2"), status="filled", filled_quantity=D("0.000995"),
                       average_price=D("97293509161.2"))
    type(order).objects.filter(pk=order.pk).update(
        created_at=datetime(2026, 12, 1, 9, 12, 2, tzinfo=UTC))

    html = operator_client.get(reverse("admin:trading_order_changelist")).content.decode()

    assert "97,293,509,161 rial" in html and "0.000995 BTC" in html
    assert "Created (Tehran)" in html and "2026-12-01<br>12:42:02" in html
    assert not EIGHTEEN_DECIMALS.search(html)


def test_the_opportunity_page_shows_its_decision_as_tables(operator_client, listed):
    market, nobitex, wallex = listed
    opportunity = make_opportunity(market=market, buy=nobitex, sell=wallex,
                                   quantity=D("0.000995"), buy_price=D("99328110380"),
                                   sell_price=D("100436611800"), details=DETAILS,
                                   status="unwound", realized_pnl=D("-837482.65"),
                                   reason=f"sell on {wallex.pk}: cancelled")

    html = operator_client.get(reverse("admin:trading_opportunity_change",
                                       args=[opportunity.pk])).content.decode()

    decision = html[html.index('id="decision"'):]
    assert "Buy on nobitex: asks taken" in decision and "99,319,622,570 rial" in decision
    assert re.search(r'class="arb-binding"><td>max order value sell</td>', decision)
    assert "binds" in decision
    assert "Realized P&amp;L (after fees)" in html and "-837,483 rial" in html
    assert "sell on wallex: cancelled" in html  # an old reason, named
    assert "buy 0.25%, sell 0.4%" in html  # the taker fees
    assert not EIGHTEEN_DECIMALS.search(_visible(html))
    assert '"buy_levels"' not in _visible(html)  # the raw record only on demand


def test_the_audit_log_says_what_and_why(operator_client, listed):
    _, nobitex, _ = listed
    operator_client.post(reverse("admin:control_exchange", args=[nobitex.pk, "pause"]),
                         {"reason": "Nobitex answers 503 on every order"})

    html = operator_client.get(reverse("admin:admin_logentry_changelist")).content.decode()

    assert "Pause trading on nobitex: done." in html
    assert '<span class="arb-why">why: Nobitex answers 503 on every order</span>' in html
    assert "When (Tehran)" in html and LogEntry.objects.count() == 1


def test_the_panel_shows_balances_and_what_is_paused(operator_client, listed):
    market, nobitex, wallex = listed
    balances_store("nobitex", {"IRR": Balance("IRR", D("101586229520.4"), D("101586229520.4"),
                                              D("0")),
                               "BTC": Balance("BTC", D("1.99272190"), D("1.5"),
                                              D("0.4927219"))})
    eth = make_market("ETH", "IRR")
    eth.enabled = False
    eth.save()
    ExchangeMarket.objects.filter(exchange=wallex, market=market).update(enabled=False)

    html = operator_client.get(reverse("admin:control_panel")).content.decode()

    row = html[html.index('id="balances-nobitex"'):]
    row = row[:row.index("</tr>")]
    assert "101,586,229,520 rial" in row and "1.50000000 BTC" in row
    assert "(0.49272190 BTC locked)" in row and "Tehran" in row
    assert "not read yet" in html[html.index('id="balances-wallex"'):]
    assert 'id="paused-market-ETH-IRR"' in html
    assert 'id="paused-listing-wallex-BTC-IRR"' in html
    assert "Realized P&amp;L (after fees)" in html


def test_nothing_paused_is_said_so(operator_client, listed):
    html = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "Nothing is paused" in html


def test_the_risk_form_shows_plain_figures_and_logs_only_what_changed(client, listed):
    from tests.admin.conftest import make_user

    client.force_login(make_user("boss", superuser=True))
    RiskSettings.load()
    url = reverse("admin:trading_risksettings_change", args=[1])
    form = client.get(url).content.decode()
    assert 'name="max_daily_loss_irr" value="50000000"' in form

    data = {"max_daily_loss_irr": "50000000", "max_daily_loss_usdt": "50",
            "max_order_value_irr": "100000000", "max_order_value_usdt": "100",
            "max_exposure": "{}", "initial-max_exposure": "{}", "min_profit_pct": "0.1",
            "min_profit_irr": "100000", "min_profit_usdt": "0.1", "max_book_age_ms": "2500",
            "max_unwind_loss_pct": "1", "max_daily_unwind_loss_irr": "20000000",
            "max_daily_unwind_loss_usdt": "20", "max_book_deviation_pct": "5",
            "protection_max_failures": "3", "protection_window_minutes": "30",
            "protection_cooldown_minutes": "60",
            "slippage_bps": "10", "slippage_bps_by_market": "{}",
            "initial-slippage_bps_by_market": "{}"}
    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert LogEntry.objects.get().get_change_message() == "Changed Max book age ms."
