"""After ``manage.py exchange NAME conformance --apply`` against a sandbox
speaking non-default readings of the docs, trading's own path (execution,
both legs, settlement) works against them."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from exchanges.errors import ExchangeError
from exchanges.models import Exchange, Market
from exchanges.registry import clear_cache, probe_adapter
from exchanges.states import OrderState
from tests.factories import make_opportunity
from trading.models import Opportunity
from trading.services.execution import opportunity_execute
from trading.services.sync import orders_sync

pytestmark = pytest.mark.django_db(transaction=True)

VARIANTS = {
    "invex-signing": "compact", "invex-expire-tz": "utc", "invex-order-fields": "swagger",
    "invex-symbol": "object",
    "wallex-cancel": "path", "wallex-balance-value": "available", "wallex-open-orders": "list",
    "nobitex-not-found": "drf", "nobitex-total-price": "order", "nobitex-decimals": "padded",
}
ASK = Decimal("100040000000")  # static books: the best ask in rial, Nobitex and Invex
WALLEX_BID_TOMAN = "10100000000"


def test_trading_works_against_the_variants_the_check_stored(trading_setup):
    sandbox = trading_setup
    sandbox.set_variants(VARIANTS)
    invex = Exchange.objects.get(name="invex")
    adapter = probe_adapter(invex)
    with pytest.raises(ExchangeError):  # the documented defaults are refused now
        adapter.balances()
    adapter.close()

    for name in ("nobitex", "wallex", "invex"):
        out = StringIO()
        call_command("exchange", name, "conformance", "--place-test-order", "--yes", "--apply",
                     stdout=out, stderr=StringIO())
        assert f"{name} at " in out.getvalue() and "conformance PASSED" in out.getvalue()
    stored = {k: v for name in ("nobitex", "wallex", "invex")
              for k, v in Exchange.objects.get(name=name).wire_variants.items()}
    assert {k: stored[k] for k in VARIANTS} == VARIANTS
    clear_cache()

    btc = Market.objects.get(base="BTC", quote="IRR")
    for buyer in ("nobitex", "invex"):
        sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                         bids=[[WALLEX_BID_TOMAN, "0.5"], ["9000000000", "5"]])
        opportunity = make_opportunity(
            market=btc, buy=Exchange.objects.get(name=buyer),
            sell=Exchange.objects.get(name="wallex"), quantity=Decimal("0.01"), buy_price=ASK,
            sell_price=Decimal(WALLEX_BID_TOMAN) * 10)
        result = opportunity_execute(opportunity_id=opportunity.pk)
        assert result.outcome == "sent", result
        orders_sync()  # Invex answers a place with its id only: sync reads the fills
        opportunity.refresh_from_db()
        assert opportunity.status == Opportunity.Status.DONE, (buyer, opportunity.status)
        assert {o.status for o in opportunity.orders.all()} == {OrderState.FILLED}
