"""Exactly once with real workers racing: the same opportunity's task
delivered many times to two worker processes sends each leg once."""

import time
from decimal import Decimal

import pytest

from exchanges.models import Exchange, Market
from tests.factories import make_opportunity
from tests.processes import celery_worker
from trading.models import Opportunity
from trading.tasks import execute_opportunity

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_two_workers_racing_on_one_opportunity_send_each_leg_once(trading_setup, tmp_path):
    sandbox = trading_setup
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])
    opp = make_opportunity(market=Market.objects.get(base="BTC", quote="IRR"),
                           buy=Exchange.objects.get(name="nobitex"),
                           sell=Exchange.objects.get(name="wallex"), quantity=Decimal("0.01"),
                           buy_price=Decimal("100040000000"), sell_price=Decimal("101000000000"))

    with celery_worker(name="race-a", concurrency=2, log_path=tmp_path / "a.log") as a:
        with celery_worker(name="race-b", queue=a.queue, concurrency=2,
                           log_path=tmp_path / "b.log"):
            for _ in range(8):  # redeliveries, a retried enqueue, an operator's double click
                execute_opportunity.apply_async(args=[opp.pk], queue=a.queue)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                opp.refresh_from_db()
                if opp.status not in (Opportunity.Status.DETECTED,
                                      Opportunity.Status.EXECUTING):
                    break
                time.sleep(0.1)
            time.sleep(1)  # let any straggling duplicate task finish

    opp.refresh_from_db()
    state = sandbox.state()["exchanges"]
    assert opp.status == Opportunity.Status.DONE
    assert opp.orders.count() == 2
    assert state["nobitex"]["counters"]["orders_placed"] == 1
    assert state["wallex"]["counters"]["orders_placed"] == 1
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert logs.count("already claimed") == 7
