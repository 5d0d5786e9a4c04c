"""Order sync's housekeeping of opportunities."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import make_exchange, make_market, make_opportunity
from trading.models import Opportunity, RiskSettings
from trading.services.execution import opportunity_execute
from trading.services.sync import opportunities_expire

pytestmark = pytest.mark.django_db


def _detected(age: timedelta) -> Opportunity:
    opp = make_opportunity(market=make_market("BTC", "IRR"), buy=make_exchange("nobitex"),
                           sell=make_exchange("wallex"), quantity=Decimal("0.01"),
                           buy_price=Decimal("100"), sell_price=Decimal("101"))
    Opportunity.objects.filter(pk=opp.pk).update(created_at=timezone.now() - age)
    return opp


def test_an_opportunity_never_claimed_in_time_is_expired_and_cannot_trade_later():
    # Given a detected opportunity whose task was lost with a killed worker
    RiskSettings.objects.update_or_create(id=1, defaults={"max_book_age_ms": 3000})
    lost, fresh = _detected(timedelta(seconds=30)), _detected(timedelta(seconds=1))

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
