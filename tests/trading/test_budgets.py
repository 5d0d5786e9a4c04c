"""Capital budgets: an over-budget trade is refused with its reason at
execution (and alerted) and dropped at detection; exchange-down mode
keeps new opportunities away."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.models import Exchange, Market
from tests.factories import make_opportunity
from trading.alerts.kinds import AlertKind
from trading.alerts.models import Alert
from trading.alerts.services import alert_raise
from trading.capital.models import CapitalBudget
from trading.detection.rejections import rejections_recent
from trading.models import Opportunity
from trading.services.budgets import exchange_capital
from trading.services.execution import opportunity_execute
from trading.services.polling import balances_refresh, orderbooks_poll

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")


def _no_detection() -> None:
    """Polls here only fetch books; detection, when a test wants it, is called."""


def _opportunity():
    return make_opportunity(market=Market.objects.get(base="BTC", quote="IRR"),
                            buy=Exchange.objects.get(name="nobitex"),
                            sell=Exchange.objects.get(name="wallex"), quantity=QTY,
                            buy_price=NOBITEX_ASK, sell_price=Decimal("101000000000"))


def test_an_order_over_the_open_orders_budget_is_refused_with_its_reason(trading_setup):
    sandbox = trading_setup
    orderbooks_poll(request_detection=_no_detection)
    CapitalBudget.objects.create(exchange=Exchange.objects.get(name="wallex"),
                                 max_open_orders_irr=Decimal("500000000"))
    opp = _opportunity()

    result = opportunity_execute(opportunity_id=opp.pk)

    opp.refresh_from_db()
    assert result.outcome == "refused"
    assert opp.status == Opportunity.Status.REJECTED
    assert opp.reason.startswith("capital budget: wallex: open orders would reach "
                                 "1,010,000,000 IRR, over their budget of 500,000,000 IRR")
    assert opp.orders.count() == 0
    assert sandbox.state()["exchanges"]["wallex"]["counters"]["orders_placed"] == 0
    alert = Alert.objects.get(kind=AlertKind.OVER_BUDGET, subject="exchange:wallex:refused")
    assert f"Opportunity #{opp.pk} refused" in alert.message


def test_an_exchange_holding_more_than_its_budget_trades_no_more_and_is_alerted(trading_setup):
    from trading.alerts.checks import checks_run
    from trading.services.detection import opportunities_detect

    sandbox = trading_setup
    orderbooks_poll(request_detection=_no_detection)
    balances_refresh()
    nobitex = next(c for c in exchange_capital() if c.exchange == "nobitex")
    # The demo account: 100 bn rial, 2 BTC, 50 ETH, 100,000 USDT at the books' mids
    assert nobitex.held_source == "balances" and nobitex.held_irr > Decimal("100000000000")
    CapitalBudget.objects.create(exchange=Exchange.objects.get(name="nobitex"),
                                 max_value_irr=Decimal("100000000000"))

    # The periodic check raises the alert
    checks_run()
    alert = Alert.objects.get(kind=AlertKind.OVER_BUDGET, subject="exchange:nobitex")
    assert "over its capital budget" in alert.title and alert.state == "open"

    # Detection refuses the best pair, buying there (Wallex's book crossed against
    # Nobitex's and Invex's), and the market goes to its next best pair
    enqueued: list[int] = []
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])
    orderbooks_poll(request_detection=_no_detection)
    report = opportunities_detect(enqueue_execution=enqueued.append)
    assert report.rejections.get("capital_budget", 0) >= 1
    assert report.opportunities_created == 1 and enqueued == report.opportunity_ids
    runner_up = Opportunity.objects.get(pk=enqueued[0])
    assert (runner_up.buy_exchange.name, runner_up.sell_exchange.name) == ("invex", "wallex")
    # The control panel says why, with the refused pair
    line = next(x for x in rejections_recent().lines if x.reason == "capital_budget")
    assert line.meaning.startswith("an exchange's capital budget")
    assert (line.last["buy_exchange"], line.last["sell_exchange"]) == ("nobitex", "wallex")
    assert "nobitex holds" in line.last["figures"]["why"]
    Opportunity.objects.filter(pk=runner_up.pk).update(status="rejected")  # not executed here

    # and execution refuses an opportunity already written
    opp = _opportunity()
    opportunity_execute(opportunity_id=opp.pk)
    opp.refresh_from_db()
    assert opp.status == "rejected" and "at or over its budget" in opp.reason

    # Raised, the budget lets trades through again and the alert resolves
    CapitalBudget.objects.filter(exchange__name="nobitex").update(
        max_value_irr=Decimal("10000000000000"))
    checks_run()
    alert.refresh_from_db()
    assert alert.state == "resolved"
    enqueued.clear()
    report = opportunities_detect(enqueue_execution=enqueued.append)
    assert report.opportunities_created == 1 and enqueued == report.opportunity_ids
    best = Opportunity.objects.get(pk=enqueued[0])
    assert (best.buy_exchange.name, best.sell_exchange.name) == ("nobitex", "wallex")


def test_an_exchange_in_exchange_down_mode_gets_no_new_trades(trading_setup):
    from trading.services.detection import opportunities_detect

    sandbox = trading_setup
    nobitex = Exchange.objects.get(name="nobitex")
    # Given Nobitex in exchange-down mode (what the periodic check raises)
    down = alert_raise(kind=AlertKind.EXCHANGE_DOWN, subject="exchange:nobitex",
                       exchange=nobitex, title="nobitex is down")
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])
    orderbooks_poll(request_detection=_no_detection)
    balances_refresh()

    # Detection keeps new opportunities away from it
    enqueued: list[int] = []
    report = opportunities_detect(enqueue_execution=enqueued.append)
    assert report.rejections.get("exchange_down", 0) >= 1
    created = Opportunity.objects.filter(pk__in=enqueued)
    assert created.exists() and not created.filter(buy_exchange=nobitex).exists()
    assert not created.filter(sell_exchange=nobitex).exists()
    created.update(status="rejected")

    # and execution refuses one written before, sending nothing; the down alert repeats
    opp = _opportunity()
    assert opportunity_execute(opportunity_id=opp.pk).outcome == "refused"
    opp.refresh_from_db()
    assert opp.status == "rejected"
    assert opp.reason == "capital budget: nobitex is in exchange-down mode"
    assert opp.orders.count() == 0
    assert sandbox.state()["exchanges"]["nobitex"]["counters"]["orders_placed"] == 0
    down.refresh_from_db()
    assert down.count == 2 and f"Opportunity #{opp.pk} refused" in down.message


def test_a_refusal_and_its_alert_commit_together(trading_setup, monkeypatch):
    from trading.alerts.models import AlertChannel, AlertDelivery, AlertMessage
    from trading.services import execution

    orderbooks_poll(request_detection=_no_detection)
    AlertChannel.objects.create(name="hook", kind="webhook", target="http://127.0.0.1:9/",
                                secret="s" * 20)
    CapitalBudget.objects.create(exchange=Exchange.objects.get(name="wallex"),
                                 max_open_orders_irr=Decimal("500000000"))
    opp = _opportunity()

    # When the claim's transaction fails after the refusal was written
    real_refuse = execution.opportunity_refuse

    def refuse_then_fail(**kwargs):
        assert real_refuse(**kwargs)
        assert Alert.objects.filter(kind=AlertKind.OVER_BUDGET).exists()
        raise RuntimeError("the worker dies inside the claim's transaction")

    monkeypatch.setattr(execution, "opportunity_refuse", refuse_then_fail)
    with pytest.raises(RuntimeError):
        opportunity_execute(opportunity_id=opp.pk)

    # Then neither the refusal nor its alert (nor a message to send) happened
    opp.refresh_from_db()
    assert opp.status == Opportunity.Status.DETECTED and not opp.events.exists()
    assert not Alert.objects.exists()
    assert not AlertMessage.objects.exists() and not AlertDelivery.objects.exists()

    # and when it commits, both are there, with the message waiting for the channel
    monkeypatch.setattr(execution, "opportunity_refuse", real_refuse)
    assert opportunity_execute(opportunity_id=opp.pk).outcome == "refused"
    alert = Alert.objects.get(kind=AlertKind.OVER_BUDGET, subject="exchange:wallex:refused")
    assert AlertDelivery.objects.get(message__alert=alert).status == "pending"
