"""Order sync's housekeeping of opportunities."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import make_exchange, make_market, make_opportunity
from trading.models import Opportunity, RiskSettings
from trading.services.execution import opportunity_execute
from trading.services.opportunities import opportunities_expire

pytestmark = pytest.mark.django_db


def _detected(age: timedelta, sell: str = "wallex") -> Opportunity:
    opp = make_opportunity(market=make_market("BTC", "IRR"), buy=make_exchange("nobitex"),
                           sell=make_exchange(sell), quantity=Decimal("0.01"),
                           buy_price=Decimal("100"), sell_price=Decimal("101"))
    Opportunity.objects.filter(pk=opp.pk).update(created_at=timezone.now() - age)
    return opp


def test_an_opportunity_never_claimed_in_time_is_expired_and_cannot_trade_later():
    # Given a detected opportunity whose task was lost with a killed worker
    RiskSettings.objects.update_or_create(id=1, defaults={"max_book_age_ms": 3000})
    lost = _detected(timedelta(seconds=30))
    fresh = _detected(timedelta(seconds=1), sell="invex")

    # When sync runs
    assert opportunities_expire() == 1

    # Then it is closed with the reason, the fresh one is left alone, and a
    # late redelivery of its task sends nothing
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == Opportunity.Status.REJECTED and "nothing was sent" in lost.reason
    assert fresh.status == Opportunity.Status.DETECTED
    assert opportunity_execute(opportunity_id=lost.pk).outcome == "claimed-elsewhere"
    assert lost.orders.count() == 0


@pytest.mark.django_db(transaction=True)
def test_reading_missing_fills_waits_out_a_rate_limit_when_patient(trading_setup, settings):
    from exchanges import registry
    from exchanges.models import Exchange, Market
    from trading.models import Order, Trade
    from trading.services.fills import fills_fetch_missing

    # Given a filled Nobitex leg whose Trades were never read (a crash), and a
    # fills budget of one call per 5 seconds, just spent
    sandbox = trading_setup
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"]])
    opp = make_opportunity(market=Market.objects.get(base="BTC", quote="IRR"),
                           buy=Exchange.objects.get(name="nobitex"),
                           sell=Exchange.objects.get(name="wallex"), quantity=Decimal("0.01"),
                           buy_price=Decimal("100040000000"), sell_price=Decimal("101000000000"))
    opportunity_execute(opportunity_id=opp.pk)
    leg = Order.objects.get(opportunity=opp, exchange__name="nobitex")
    Trade.objects.filter(order=leg).delete()
    settings.EXCHANGE_RATE_LIMITS = {"nobitex": {"fills": [1, 5]}}
    registry.clear_cache()
    adapter = registry.adapter_for("nobitex")  # execution's own fills read spent the budget

    # When sync reads the fills impatiently, it reports the limit and records nothing
    added, errors = fills_fetch_missing(adapter=adapter, orders=[leg], patience=0)
    assert added == 0 and "rate limit" in errors[0]

    # and with patience it waits for the next slot and records the fill once
    added, errors = fills_fetch_missing(adapter=adapter, orders=[leg], patience=10)
    assert (added, errors) == (1, [])
    assert Trade.objects.get(order=leg).quantity == Decimal("0.01")
