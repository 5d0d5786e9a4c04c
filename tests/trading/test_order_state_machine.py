"""The order state machine: the only way an order's status changes."""

from decimal import Decimal

import pytest

from exchanges.states import TERMINAL_STATES, OrderState
from tests.factories import make_order
from trading.models import OrderEvent, OrderEventKind
from trading.services.orders import ALLOWED_TRANSITIONS, IllegalTransition, order_transition

S = OrderState
ALL = [s.value for s in OrderState]


def _fill_for(status: str, quantity: Decimal) -> Decimal | None:
    """The filled quantity that makes a report of ``status`` consistent."""
    if status == S.PARTIALLY_FILLED:
        return quantity / 2
    if status == S.FILLED:
        return quantity
    return None


def _order_in(status: str, **kw):
    order = make_order(quantity=Decimal("2"), **kw)
    if status != S.PENDING_SUBMIT:
        order_transition(order_id=order.pk, to_status=status, source="test",
                         filled_quantity=_fill_for(status, order.quantity))
        order.refresh_from_db()
    assert order.status == status
    return order


LEGAL = [(a, b) for a in ALL for b in sorted(ALLOWED_TRANSITIONS[a])]
# An "open" report on a partly filled order keeps its fills: it is read as
# still partially filled (tested below), not as a step back.
ILLEGAL = [(a, b) for a in ALL for b in ALL
           if a != b and b not in ALLOWED_TRANSITIONS[a] and (a, b) != (S.PARTIALLY_FILLED, S.OPEN)]


def test_the_documented_path_and_skips_are_legal():
    assert S.OPEN in ALLOWED_TRANSITIONS[S.PENDING_SUBMIT]
    assert S.FILLED in ALLOWED_TRANSITIONS[S.PENDING_SUBMIT]  # skip straight to filled
    assert S.REJECTED in ALLOWED_TRANSITIONS[S.PENDING_SUBMIT]
    assert S.UNKNOWN in ALLOWED_TRANSITIONS[S.PENDING_SUBMIT]
    assert {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED} <= ALLOWED_TRANSITIONS[S.OPEN]
    for final in TERMINAL_STATES:
        assert ALLOWED_TRANSITIONS[final] == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "target"), LEGAL)
def test_every_legal_transition_changes_status_and_writes_one_event(start, target):
    # Given an order in ``start``
    order = _order_in(start)
    events_before = OrderEvent.objects.filter(order=order).count()
    # When a report of ``target`` arrives
    result = order_transition(order_id=order.pk, to_status=target, source="sync",
                              filled_quantity=_fill_for(target, order.quantity),
                              payload={"raw": target})
    # Then the order takes it and one event records from, to, source and payload
    order.refresh_from_db()
    assert result.changed
    assert order.status == target
    assert OrderEvent.objects.filter(order=order).count() == events_before + 1
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert (event.from_status, event.to_status, event.source) == (start, target, "sync")
    assert event.payload == {"raw": target}


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "target"), ILLEGAL)
def test_every_illegal_transition_raises_and_writes_nothing(start, target):
    order = _order_in(start)
    events_before = OrderEvent.objects.filter(order=order).count()
    filled = _fill_for(target, order.quantity)
    if filled is not None and filled < order.filled_quantity:
        filled = order.filled_quantity
    with pytest.raises(IllegalTransition) as excinfo:
        order_transition(order_id=order.pk, to_status=target, source="sync",
                         filled_quantity=filled)
    assert order.client_order_id in str(excinfo.value)
    order.refresh_from_db()
    assert order.status == start
    assert OrderEvent.objects.filter(order=order).count() == events_before


@pytest.mark.django_db
def test_filled_to_open_is_refused_with_a_clear_message():
    order = _order_in(S.FILLED)
    with pytest.raises(IllegalTransition, match="illegal transition filled → open"):
        order_transition(order_id=order.pk, to_status=S.OPEN, source="sync")


@pytest.mark.django_db
def test_the_same_update_twice_is_a_no_op():
    order = make_order(quantity=Decimal("1"))
    first = order_transition(order_id=order.pk, to_status=S.PARTIALLY_FILLED, source="sync",
                             filled_quantity=Decimal("0.4"), exchange_order_id="X1")
    second = order_transition(order_id=order.pk, to_status=S.PARTIALLY_FILLED, source="sync",
                              filled_quantity=Decimal("0.4"), exchange_order_id="X1")
    assert first.changed and not second.changed
    assert OrderEvent.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_filled_quantity_never_goes_down():
    order = make_order(quantity=Decimal("1"))
    order_transition(order_id=order.pk, to_status=S.PARTIALLY_FILLED, source="sync",
                     filled_quantity=Decimal("0.6"))
    with pytest.raises(IllegalTransition, match="cannot go down"):
        order_transition(order_id=order.pk, to_status=S.PARTIALLY_FILLED, source="sync",
                         filled_quantity=Decimal("0.5"))
    order.refresh_from_db()
    assert order.filled_quantity == Decimal("0.6")


@pytest.mark.django_db
def test_fills_grow_within_a_state_and_each_growth_is_an_event():
    order = make_order(quantity=Decimal("1"))
    for filled in ("0.1", "0.25", "0.7"):
        order_transition(order_id=order.pk, to_status=S.PARTIALLY_FILLED, source="sync",
                         filled_quantity=Decimal(filled))
    events = list(OrderEvent.objects.filter(order=order).order_by("id"))
    assert [e.filled_quantity for e in events] == [Decimal("0.1"), Decimal("0.25"), Decimal("0.7")]
    assert [e.from_status for e in events] == ["pending_submit", "partially_filled",
                                               "partially_filled"]


@pytest.mark.django_db
def test_fill_above_the_order_quantity_is_refused():
    order = make_order(quantity=Decimal("1"))
    with pytest.raises(IllegalTransition, match="exceeds"):
        order_transition(order_id=order.pk, to_status=S.FILLED, source="sync",
                         filled_quantity=Decimal("1.01"))


@pytest.mark.django_db
def test_open_with_fills_is_recorded_as_partially_filled():
    # Nobitex keeps a partly filled order "Active": the machine reads the fill.
    order = make_order(quantity=Decimal("1"))
    result = order_transition(order_id=order.pk, to_status=S.OPEN, source="sync",
                              filled_quantity=Decimal("0.3"))
    assert result.order.status == S.PARTIALLY_FILLED


@pytest.mark.django_db
def test_an_open_report_on_a_partly_filled_order_changes_nothing():
    order = _order_in(S.PARTIALLY_FILLED)
    result = order_transition(order_id=order.pk, to_status=S.OPEN, source="sync")
    assert not result.changed
    assert result.order.status == S.PARTIALLY_FILLED


@pytest.mark.django_db
def test_a_cancelled_order_may_carry_a_partial_fill_and_learn_more_of_it():
    order = _order_in(S.PARTIALLY_FILLED)  # 1 of 2 filled
    order_transition(order_id=order.pk, to_status=S.CANCELLED, source="sync",
                     filled_quantity=Decimal("1"))
    late = order_transition(order_id=order.pk, to_status=S.CANCELLED, source="sync",
                            filled_quantity=Decimal("1.5"))
    assert late.changed
    assert late.order.status == S.CANCELLED
    assert late.order.filled_quantity == Decimal("1.5")


@pytest.mark.django_db
def test_filled_without_a_quantity_means_the_whole_order():
    order = make_order(quantity=Decimal("0.75"))
    result = order_transition(order_id=order.pk, to_status=S.FILLED, source="sync")
    assert result.order.filled_quantity == Decimal("0.75")


@pytest.mark.django_db
def test_exchange_order_id_is_set_once_and_never_replaced():
    order = make_order()
    order_transition(order_id=order.pk, to_status=S.OPEN, source="executor",
                     exchange_order_id="E-1")
    with pytest.raises(IllegalTransition, match="cannot change"):
        order_transition(order_id=order.pk, to_status=S.OPEN, source="sync",
                         exchange_order_id="E-2")


@pytest.mark.django_db
def test_submitted_at_is_stamped_when_the_exchange_accepts_but_not_on_rejection():
    accepted, refused = make_order(), make_order()
    order_transition(order_id=accepted.pk, to_status=S.OPEN, source="executor")
    order_transition(order_id=refused.pk, to_status=S.REJECTED, source="executor",
                     reason="SmallOrder")
    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.submitted_at is not None
    assert refused.submitted_at is None
    assert refused.status_reason == "SmallOrder"


@pytest.mark.django_db
def test_an_unknown_status_name_is_a_value_error():
    order = make_order()
    with pytest.raises(ValueError, match="unknown order status"):
        order_transition(order_id=order.pk, to_status="done", source="sync")


@pytest.mark.django_db
@pytest.mark.parametrize("target", [S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED])
def test_the_exchanges_report_of_an_order_held_rejected_wins(target):
    # Given an order this system gave up (never placed, it concluded)
    order = _order_in(S.REJECTED)
    # When its exchange reports it after all
    result = order_transition(order_id=order.pk, to_status=target, source="executor",
                              filled_quantity=_fill_for(target, order.quantity),
                              exchange_order_id="77", kind=OrderEventKind.EXCHANGE_REPORT)
    # Then it takes the exchange's state, with a typed event that says why
    order.refresh_from_db()
    assert result.changed and order.status == target and order.exchange_order_id == "77"
    assert result.event.kind == OrderEventKind.RECONCILED
    assert result.event.from_status == S.REJECTED
    assert "held rejected" in result.event.message and "its truth applied" in order.status_reason
    assert order.submitted_at is not None


@pytest.mark.django_db
def test_an_open_report_with_fills_on_an_order_held_rejected_is_partially_filled():
    order = _order_in(S.REJECTED)
    order_transition(order_id=order.pk, to_status=S.OPEN, source="sync",
                     filled_quantity=Decimal("1"), kind=OrderEventKind.EXCHANGE_REPORT)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == (S.PARTIALLY_FILLED, Decimal("1"))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [OrderEventKind.UPDATE, OrderEventKind.RESOLVED_BY_HAND])
def test_only_an_exchanges_report_reopens_a_rejected_order(kind):
    order = _order_in(S.REJECTED)
    with pytest.raises(IllegalTransition):
        order_transition(order_id=order.pk, to_status=S.OPEN, source="x", kind=kind)


@pytest.mark.django_db
@pytest.mark.parametrize("start", [S.FILLED, S.PARTIALLY_FILLED, S.OPEN, S.CANCELLED])
def test_nothing_turns_an_order_the_exchange_had_into_rejected(start):
    order = _order_in(start)
    for kind in (OrderEventKind.NOT_FOUND, OrderEventKind.EXCHANGE_REPORT,
                 OrderEventKind.RECONCILED):
        with pytest.raises(IllegalTransition):
            order_transition(order_id=order.pk, to_status=S.REJECTED, source="sync", kind=kind)
