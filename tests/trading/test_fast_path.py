"""The fast path from a book to both orders: the claim, both orders and their
events commit together or not at all; detection's reads are kept between changes
and read again once something they depend on changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError

from tests.trading.test_detection import (  # noqa: F401 - fixtures and helpers
    NOW,
    clean_redis,
    enqueue_execution,
    scene,
    sent,
    set_risk,
)
from tests.trading.test_execution import _opportunity, _placed, _wallex_pays_more, btc  # noqa: F401
from trading.models import Opportunity, OpportunityEvent, Order, OrderEvent
from trading.services import orders as orders_service
from trading.services.detection import opportunities_detect
from trading.services.execution import opportunity_execute
from trading.services.opportunities import opportunity_claim, opportunity_settle

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failure_writing_the_legs_rolls_back_the_claim_and_the_orders(
        trading_setup, btc, monkeypatch):  # noqa: F811
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    opportunity = _opportunity(btc)
    placed = {name: _placed(sandbox, name) for name in ("nobitex", "wallex")}

    # Given the legs' events cannot be written (the last write of the claim's transaction)
    def fail(*args, **kwargs):
        raise DatabaseError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(orders_service.OrderEvent.objects, "bulk_create", fail)
        # When it is executed
        with pytest.raises(DatabaseError):
            opportunity_execute(opportunity_id=opportunity.pk)

    # Then nothing of the claim is left: not claimed, no history, no order, nothing sent
    opportunity.refresh_from_db()
    assert opportunity.status == Opportunity.Status.DETECTED and opportunity.executed_at is None
    assert not OpportunityEvent.objects.filter(opportunity=opportunity).exists()
    assert not Order.objects.exists() and not OrderEvent.objects.exists()
    assert {name: _placed(sandbox, name) for name in placed} == placed

    # and a redelivered task executes it once the database writes again
    assert opportunity_execute(opportunity_id=opportunity.pk).outcome == "sent"
    assert opportunity.orders.filter(purpose="entry").count() == 2


def _detect(ms: int = 250):
    return opportunities_detect(now=NOW + timedelta(milliseconds=ms),
                                enqueue_execution=enqueue_execution)


def test_detections_keep_their_reads_until_something_they_read_changes(
        scene, sent, django_assert_num_queries):  # noqa: F811
    set_risk(min_profit_irr=Decimal("100"))  # the scene's 65 rial is too little
    assert _detect().opportunities_created == 0  # reads, and keeps them

    # Nothing changed: the next cycles read nothing from the database
    with django_assert_num_queries(0):
        report = _detect(260)
    assert report.rejections == {"below_min_profit": 1, "not_crossed": 1}

    # A changed setting is read at the next cycle
    set_risk(min_profit_irr=Decimal("0"))
    assert _detect(270).opportunities_created == 1
    opportunity = Opportunity.objects.get()
    assert sent == [opportunity.pk]

    # ... so is a new opportunity in flight (its pair is not detected again) ...
    assert _detect(280).rejections.get("in_flight") == 1
    # ... and one that closed (the pair is free again), through the state machine
    assert opportunity_claim(opportunity_id=opportunity.pk, source="test")
    opportunity_settle(opportunity_id=opportunity.pk, status="done", realized_pnl=Decimal("0"),
                       reason="test", source="test")
    assert _detect(290).opportunities_created == 1


def test_a_paused_exchange_is_left_out_at_the_next_cycle(scene, sent):  # noqa: F811
    assert _detect().opportunities_created == 1
    Opportunity.objects.all().delete()  # (a delete is a change too)

    scene["invex"].trading_enabled = False
    scene["invex"].save()

    report = _detect(260)
    assert report.opportunities_created == 0 and report.pairs_checked == 0
