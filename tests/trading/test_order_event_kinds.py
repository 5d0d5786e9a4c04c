"""Every order event says what it records (``OrderEvent.kind``), so "every
cancel an operator asked for" or "every order whose answer was lost" is a
query; events from before the kind existed get it from their text."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from exchanges.models import Exchange, Market
from tests.factories import make_opportunity
from trading.models import OrderEvent
from trading.services.control import order_cancel
from trading.services.execution import opportunity_execute

K = OrderEvent.Kind


@pytest.mark.django_db(transaction=True)
def test_the_writers_say_what_each_event_is(trading_setup):
    # Given an opportunity whose sell leg's answer Wallex loses
    sandbox = trading_setup
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])
    sandbox.set_faults("wallex:lost_answer=1")
    btc = Market.objects.get(base="BTC", quote="IRR")
    opportunity = make_opportunity(
        market=btc, buy=Exchange.objects.get(name="nobitex"),
        sell=Exchange.objects.get(name="wallex"), quantity=Decimal("0.01"),
        buy_price=Decimal("100040000000"), sell_price=Decimal("101000000000"))

    # When it executes and an operator then asks to cancel the lost leg
    opportunity_execute(opportunity_id=opportunity.pk)
    sandbox.clear_faults()
    buy, sell = opportunity.orders.order_by("side")
    operator = get_user_model().objects.create_user("op")
    order_cancel(order=sell, user=operator, reason="checking")

    # Then each event's kind says what happened
    def kinds(order):
        return list(order.events.order_by("id").values_list("kind", flat=True))

    assert kinds(buy) == [K.CREATED, K.EXCHANGE_REPORT]
    assert kinds(sell)[:3] == [K.CREATED, K.SEND_AMBIGUOUS, K.CANCEL_REQUESTED]
    assert list(OrderEvent.objects.filter(kind=K.CANCEL_REQUESTED)
                .values_list("order_id", "source")) == [(sell.pk, "admin:op")]


@pytest.mark.django_db(transaction=True)
def test_events_written_before_the_kind_existed_get_it_from_their_text():
    before, after = ("trading", "0008_opportunity_one_in_flight_per_pair"), \
        ("trading", "0009_opportunity_events_order_event_kind")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    # Only trading goes back: the other apps' models are as their latest
    # migrations left them (exchanges' wire_variants is NOT NULL).
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "trading"]
    apps = executor.loader.project_state([before, *others]).apps
    Exchange_, Market_ = apps.get_model("exchanges", "Exchange"), apps.get_model(
        "exchanges", "Market")
    Order_, OrderEvent_ = apps.get_model("trading", "Order"), apps.get_model(
        "trading", "OrderEvent")
    order = Order_.objects.create(
        exchange=Exchange_.objects.create(name="nobitex", adapter="nobitex"),
        market=Market_.objects.create(base="BTC", quote="IRR"), client_order_id="old-1",
        side="buy", quantity=Decimal("1"))
    written = [  # (from, to, message, payload) as each writer wrote them → expected kind
        ("", "pending_submit", "created", {"opportunity": 1}, K.CREATED),
        ("", "open", "created", {"raw_status": "Active", "external": True}, K.IMPORTED),
        ("pending_submit", "open", "", {"raw_status": "Active"}, K.EXCHANGE_REPORT),
        ("pending_submit", "rejected", "balance too low", {"code": "Insufficient"},
         K.SEND_REFUSED),
        ("pending_submit", "rejected", "not sent: breaker open", {"error": "X"},
         K.SEND_NOT_SENT),
        ("pending_submit", "unknown", "wallex: no answer within 2s", {}, K.SEND_AMBIGUOUS),
        ("pending_submit", "unknown", "unexpected KeyError: 'x'", {}, K.SEND_FAILED),
        ("unknown", "rejected", "never reached the exchange: not found at 10:00:00", {},
         K.NOT_FOUND),
        ("open", "open", "cancel requested: too far from the book", {}, K.CANCEL_REQUESTED),
        ("open", "open", "resync requested", {}, K.RESYNC_REQUESTED),
        ("unknown", "filled", "seen on the exchange's site", {"resolved_by_hand": True},
         K.RESOLVED_BY_HAND),
        ("open", "open", "checked by hand", {}, K.NOTE),
        ("open", "filled", "", {}, K.UPDATE),
    ]
    ids = [OrderEvent_.objects.create(order=order, from_status=f, to_status=t, message=m,
                                      payload=p, source="old").pk
           for f, t, m, p, _ in written]
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        apps = executor.loader.project_state([after]).apps
        kinds = dict(apps.get_model("trading", "OrderEvent").objects.values_list("pk", "kind"))
        assert [kinds[pk] for pk in ids] == [expected for *_, expected in written]
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader
                                              .graph.leaf_nodes())
