"""Per-pair protections and the gross daily unwind loss limit (issue 10
item 1), through the real execution and settlement against the sandbox:
each unwind below is a Nobitex buy that filled while Wallex refused the
sell, sold back on Nobitex at a loss."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from exchanges.models import Exchange, ExchangeMarket, Market
from tests.factories import make_opportunity
from trading.detection.rejections import rejections_recent
from trading.models import Opportunity, OpportunityEvent, PairProtection, RiskSettings
from trading.services.detection import opportunities_detect
from trading.services.execution import opportunity_execute
from trading.services.polling import balances_refresh, orderbooks_poll
from trading.services.risk import risk_check

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")  # static scenario: best ask, rial
UNWIND_LOSS = Decimal("5800000")  # each unwind below (test_execution.py works it out)


@pytest.fixture
def btc(trading_setup):
    # Two exchanges only: every cross below is nobitex ⇄ wallex
    ExchangeMarket.objects.filter(exchange__name="invex").update(enabled=False)
    return Market.objects.get(base="BTC", quote="IRR")


def _ex(name: str) -> Exchange:
    return Exchange.objects.get(name=name)


def unwound_round_trip(btc) -> Opportunity:
    """Buy on Nobitex, sell on Wallex at a price Wallex refuses: unwound."""
    opp = make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                           buy_price=NOBITEX_ASK, sell_price=Decimal("150000000000"))
    opportunity_execute(opportunity_id=opp.pk)
    opp.refresh_from_db()
    assert opp.status == Opportunity.Status.UNWOUND, opp.reason
    return opp


def detect() -> list[Opportunity]:
    orderbooks_poll(request_detection=lambda: None)
    balances_refresh()
    report = opportunities_detect(enqueue_execution=lambda _id: None)
    return list(Opportunity.objects.filter(pk__in=report.opportunity_ids)
                .select_related("buy_exchange", "sell_exchange"))


def wallex_pays_more(sandbox) -> None:
    """Wallex bids 101,000,000,000 rial: buy on Nobitex, sell on Wallex."""
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])


def wallex_sells_cheap(sandbox) -> None:
    """Wallex asks 99,000,000,000 rial: buy on Wallex, sell on Nobitex."""
    sandbox.set_book("wallex", "BTCTMN", asks=[["9900000000", "0.5"]],
                     bids=[["9800000000", "1"]])


def test_three_unwinds_pause_that_direction_only_until_the_cooldown_ends(trading_setup, btc):
    sandbox = trading_setup
    RiskSettings.objects.update(protection_max_failures=3, protection_window_minutes=30,
                                protection_cooldown_minutes=60)
    # Two unwinds: nothing paused yet
    first = [unwound_round_trip(btc), unwound_round_trip(btc)]
    assert not PairProtection.objects.exists()
    wallex_pays_more(sandbox)
    assert [(o.buy_exchange.name, o.sell_exchange.name) for o in detect()] == [
        ("nobitex", "wallex")]
    Opportunity.objects.filter(status="detected").update(status="rejected")  # not executed

    # The third trips the protection, recorded with its reason and an event
    third = unwound_round_trip(btc)
    protection = PairProtection.objects.get()
    assert (protection.market, protection.buy_exchange.name,
            protection.sell_exchange.name) == (btc, "nobitex", "wallex")
    assert sorted(protection.opportunity_ids) == sorted(o.pk for o in [*first, third])
    assert "3 round trips unwound or failed" in protection.reason
    assert timedelta(minutes=59) < protection.until - timezone.now() <= timedelta(minutes=60)
    assert OpportunityEvent.objects.filter(opportunity=third, source="protection").exists()

    # Detection refuses that direction, and says until when
    assert detect() == []
    line = next(x for x in rejections_recent().lines if x.reason == "protected")
    assert (line.last["buy_exchange"], line.last["sell_exchange"]) == ("nobitex", "wallex")
    assert line.last["figures"]["why"].startswith("protected until ")
    # execution refuses one of it written before the protection
    late = make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                            buy_price=NOBITEX_ASK, sell_price=Decimal("101000000000"))
    assert opportunity_execute(opportunity_id=late.pk).outcome == "refused"
    late.refresh_from_db()
    assert late.status == "rejected" and late.reason.startswith("protected until")

    # The other direction of the same pair trades on
    wallex_sells_cheap(sandbox)
    assert [(o.buy_exchange.name, o.sell_exchange.name) for o in detect()] == [
        ("wallex", "nobitex")]
    Opportunity.objects.filter(status="detected").update(status="rejected")

    # Once the cooldown is over, the direction trades again (and the failures
    # that tripped it do not trip it again)
    for protection in PairProtection.objects.all():  # an hour on (saved: detection's
        protection.until = timezone.now() - timedelta(seconds=1)  # kept reads learn of it)
        protection.started_at = timezone.now() - timedelta(minutes=61)
        protection.save()
    wallex_pays_more(sandbox)
    assert [(o.buy_exchange.name, o.sell_exchange.name) for o in detect()] == [
        ("nobitex", "wallex")]
    assert PairProtection.objects.count() == 1


def test_an_operator_ends_a_protection_early_through_its_confirmed_action(trading_setup, btc,
                                                                          admin_client):
    now = timezone.now()
    protection = PairProtection.objects.create(
        market=btc, buy_exchange=_ex("nobitex"), sell_exchange=_ex("wallex"),
        reason="3 round trips unwound", started_at=now, until=now + timedelta(hours=1))
    url = reverse("admin:trading_pairprotection_end", args=[protection.pk])
    assert "End protection" in admin_client.get(url).content.decode()
    # The control panel lists it while in force
    assert f'id="protection-{protection.pk}"' in admin_client.get(
        reverse("admin:control_panel")).content.decode()

    response = admin_client.post(url, {"reason": "the book was fixed upstream"})

    assert response.status_code == 302
    protection.refresh_from_db()
    assert protection.until <= timezone.now() and protection.ended_by == "admin:admin"
    assert protection.ended_reason == "the book was fixed upstream"
    assert LogEntry.objects.filter(object_id=str(protection.pk)).exists()
    wallex_pays_more(trading_setup)
    assert len(detect()) == 1


def test_the_gross_unwind_loss_limit_stops_trading_on_a_day_in_net_profit(trading_setup, btc,
                                                                          admin_client):
    sandbox = trading_setup
    RiskSettings.objects.update(max_daily_unwind_loss_irr=Decimal("10000000"),
                                protection_max_failures=0)
    # A day well in profit: one round trip made 100,000,000 rial
    make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                     buy_price=NOBITEX_ASK, sell_price=Decimal("110000000000"),
                     status="done", realized_pnl=Decimal("100000000"),
                     closed_at=timezone.now())

    unwound_round_trip(btc)  # 5.8 M lost: under the limit, trading goes on
    assert not RiskSettings.load().kill_switch
    unwound_round_trip(btc)  # 11.6 M of unwind losses: over the 10 M limit

    row = RiskSettings.load()
    check = risk_check(quote_assets=["IRR"])
    assert check.pnl_today["IRR"] > 0  # still in net profit
    assert check.unwind_losses_today["IRR"] == 2 * UNWIND_LOSS
    assert row.kill_switch and "daily unwind loss limit breached in IRR" in row.kill_switch_reason
    assert "daily unwind loss limit breached" in check.blocked["IRR"]
    # Nothing more is traded, and the panel shows the gross figure beside the limit
    wallex_pays_more(sandbox)
    assert detect() == []
    page = admin_client.get(reverse("admin:control_panel")).content.decode()
    assert 'id="unwind-losses-IRR"' in page and "11,600,000" in page


def test_the_unwind_limit_blocks_each_decision_without_netting_profits(trading_setup, btc):
    RiskSettings.objects.update(max_daily_unwind_loss_irr=Decimal("10000000"))
    make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                     buy_price=NOBITEX_ASK, sell_price=Decimal("110000000000"),
                     status="done", realized_pnl=Decimal("100000000"), closed_at=timezone.now())
    make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                     buy_price=NOBITEX_ASK, sell_price=Decimal("110000000000"),
                     status="unwound", realized_pnl=Decimal("-9000000"), closed_at=timezone.now())
    assert risk_check(quote_assets=["IRR"]).blocked == {}  # 9 M: under the limit

    make_opportunity(market=btc, buy=_ex("wallex"), sell=_ex("nobitex"), quantity=QTY,
                     buy_price=NOBITEX_ASK, sell_price=Decimal("110000000000"),
                     status="unwound", realized_pnl=Decimal("-1000000"), closed_at=timezone.now())
    check = risk_check(quote_assets=["IRR", "USDT"])
    assert check.pnl_today["IRR"] == Decimal("90000000")
    assert check.blocked["IRR"].startswith("daily unwind loss limit reached in IRR")
    assert "USDT" not in check.blocked
