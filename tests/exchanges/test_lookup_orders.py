"""Batched order lookups against the sandbox: list endpoints first, one
status call only for what they do not settle, and "not found" only when the
exchange says so."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchanges.client_ids import new_client_order_id
from exchanges.states import OrderState
from exchanges.types import OrderRef, OrderRequest, OrderType, Side

KINDS = ["nobitex", "wallex", "invex"]
QTY = Decimal("0.001")
RESTING = Decimal("99000000000")
CROSSING = Decimal("100100000000")


def _place(adapter, price):
    client_id = new_client_order_id(exchange_kind=adapter.kind, purpose="test")
    placed = adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, QTY,
                                              client_id, price=price))
    return OrderRef(client_order_id=client_id, exchange_order_id=placed.exchange_order_id,
                    market="BTC-IRR", created_at=datetime.now(tz=UTC), quantity=QTY)


@pytest.mark.parametrize("kind", KINDS)
def test_filled_resting_and_absent_orders_in_one_lookup(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind)
    filled = [_place(adapter, CROSSING) for _ in range(3)]
    resting = _place(adapter, RESTING)
    absent = OrderRef(client_order_id=new_client_order_id(exchange_kind=kind, purpose="test"),
                      market="BTC-IRR",
                      created_at=datetime.now(tz=UTC), quantity=QTY)

    result = adapter.lookup_orders([*filled, resting, absent])

    assert {result.found[r.client_order_id].state for r in filled} == {OrderState.FILLED}
    assert all(result.found[r.client_order_id].filled_quantity == QTY for r in filled)
    assert result.found[resting.client_order_id].state is OrderState.OPEN
    assert result.not_found == {absent.client_order_id} and not result.errors
    # The filled ones came from a list, not one status call each (Invex's search
    # rows carry no trades: a filled order is read once more for its fills).
    assert result.calls <= 5 + (len(filled) if kind == "invex" else 0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_exchange_is_an_error_never_a_not_found(sandbox_adapter, shared_sandbox, kind):
    adapter = sandbox_adapter(kind, read_retries=0)
    ref = OrderRef(client_order_id=new_client_order_id(exchange_kind=kind, purpose="test"),
                   market="BTC-IRR",
                   created_at=datetime.now(tz=UTC), quantity=QTY)
    shared_sandbox.set_faults(f"{kind}:error5xx=1")

    result = adapter.lookup_orders([ref])

    assert not result.not_found and ref.client_order_id in result.errors
