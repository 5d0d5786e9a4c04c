"""Each adapter against the sandbox in every wire variant (``exchanges/sandbox/
variants.py``): the points the exchanges' docs leave open, each served in
every plausible reading.

For every value of every variant of an exchange, the sandbox speaks it and
the adapter runs the whole round: place a resting order, read it by both
ids, list it among the open orders, cancel it, fill a crossing order and
read its fills, balances, a lost place answer of an order that filled at
once, found again (never "not found"), and an order never sent, explicitly
not found. Where the adapter cannot survive
a variant without being told (``TOLD``), it is configured with the same
``NAME=VALUE`` (``AdapterConfig.variants``, as ``Exchange.wire_variants``
or ``EXCHANGE_WIRE_VARIANTS`` would give it); every other variant it
survives untold, and ``test_told_variants_are_needed`` shows that those it
is told could not be survived untold.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchanges.client_ids import new_client_order_id
from exchanges.errors import AmbiguousOrderError, ExchangeError
from exchanges.interface import ExchangeAdapter
from exchanges.sandbox.variants import DEFAULTS, VARIANTS
from exchanges.states import OrderState
from exchanges.types import OrderRef, OrderRequest, OrderType, Side
from exchanges.variants import VARIANTS as ADAPTER_VARIANTS

D = Decimal
QTY = D("0.001")
RESTING = D("95000000000")  # rial, below the static best ask
CROSSING = D("101000000000")  # above it: fills at once
FILL_PRICE = D("100040000000")  # the static best ask

# The variants an adapter must be told (the live conformance check finds them and
# stores them on the Exchange row): a signature, a time zone, field names or a
# not-found answer that cannot be told apart from another reading by looking.
TOLD = {
    ("invex-signing", "compact"),
    ("invex-expire-tz", "utc"),
    ("invex-order-fields", "swagger"),
    ("nobitex-not-found", "empty"),
    ("nobitex-total-price", "order"),
    ("wallex-balance-value", "available"),
}
# Told that totalPrice is the order's value, the adapter reads no average from a
# status answer (it has no averagePrice): unknown, never wrong; the fills tell.
NO_AVERAGE = {("nobitex-total-price", "order")}


def _kind(name: str) -> str:
    return name.split("-", 1)[0]


CASES = [(name, value) for name, values in VARIANTS.items() for value in values
         if value != DEFAULTS[name]]
BASELINES = [(None, kind) for kind in ("nobitex", "wallex", "invex")]


def _adapter(sandbox_adapter, kind: str, told: dict[str, str]) -> ExchangeAdapter:
    return sandbox_adapter(kind, variants=told)


def _request(kind: str, price: Decimal, side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest("BTC-IRR", side, OrderType.LIMIT, QTY,
                        new_client_order_id(exchange_kind=kind, purpose="test"), price=price)


def _settled(adapter: ExchangeAdapter, exchange_order_id: str, state: OrderState):
    deadline = time.monotonic() + 3
    while True:
        order = adapter.get_order(exchange_order_id=exchange_order_id, market="BTC-IRR")
        if order.state is state or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def round_trip(adapter: ExchangeAdapter, sandbox, kind: str, *,
               average_known: bool = True) -> None:
    """Everything trading asks of an adapter, as a user of it would."""
    # place, status by both ids, open orders
    request = _request(kind, RESTING)
    placed = adapter.place_order(request)
    assert placed.state is OrderState.OPEN and placed.exchange_order_id
    by_id = adapter.get_order(exchange_order_id=placed.exchange_order_id, market="BTC-IRR")
    by_client = adapter.get_order(client_order_id=request.client_order_id, market="BTC-IRR")
    for order in (by_id, by_client):
        assert order.state is OrderState.OPEN
        assert order.exchange_order_id == placed.exchange_order_id
        assert (order.side, order.quantity, order.price) == (Side.BUY, QTY, RESTING)
        assert order.filled_quantity == 0
    listed = {o.exchange_order_id: o for o in adapter.open_orders()}
    assert set(listed) == {placed.exchange_order_id}
    assert listed[placed.exchange_order_id].quantity == QTY
    balances = adapter.balances()
    assert balances["IRR"].locked == QTY * RESTING
    assert balances["IRR"].total == D("100000000000")
    assert balances["IRR"].available == D("100000000000") - QTY * RESTING
    assert balances["BTC"].total == D("1") and balances["BTC"].available == D("1")

    # cancel
    adapter.cancel_order(exchange_order_id=placed.exchange_order_id,
                         client_order_id=request.client_order_id, market="BTC-IRR")
    cancelled = _settled(adapter, placed.exchange_order_id, OrderState.CANCELLED)
    assert cancelled.state is OrderState.CANCELLED and cancelled.filled_quantity == 0
    assert adapter.open_orders() == []

    # a crossing order fills; its fills, once each, and the balances it moved
    crossing = _request(kind, CROSSING)
    filled = _settled(adapter, adapter.place_order(crossing).exchange_order_id,
                      OrderState.FILLED)
    assert filled.state is OrderState.FILLED and filled.filled_quantity == QTY
    assert filled.average_price == (FILL_PRICE if average_known else None)
    fills = [f for f in adapter.recent_fills("BTC-IRR")
             if f.exchange_order_id == filled.exchange_order_id
             or f.client_order_id == crossing.client_order_id]
    assert sum(f.quantity for f in fills) == QTY and all(f.price == FILL_PRICE for f in fills)
    assert len({f.trade_id for f in fills}) == len(fills)
    assert [f.trade_id for f in fills] == [
        f.trade_id for f in adapter.recent_fills("BTC-IRR")
        if f.exchange_order_id == filled.exchange_order_id
        or f.client_order_id == crossing.client_order_id]
    fee = sum(f.fee for f in fills)
    balances = adapter.balances()
    assert balances["IRR"].total == D("100000000000") - QTY * FILL_PRICE
    assert balances["BTC"].total == D("1") + QTY - fee

    # a lost answer of an order that filled at once: found again, filled
    sandbox.set_faults(f"{kind}:lost_answer=1")
    lost = _request(kind, CROSSING)
    written = datetime.now(tz=UTC)
    with pytest.raises(AmbiguousOrderError):
        adapter.place_order(lost)
    sandbox.clear_faults()
    known = {placed.exchange_order_id, filled.exchange_order_id}
    result = adapter.lookup_orders([OrderRef(
        client_order_id=lost.client_order_id, market="BTC-IRR", created_at=written,
        quantity=QTY, side=Side.BUY, price=CROSSING)], known_exchange_ids=known)
    assert not result.not_found and not result.errors, result
    found = result.found[lost.client_order_id]
    assert found.state is OrderState.FILLED and found.filled_quantity == QTY
    assert found.exchange_order_id not in known

    # an order that never reached the exchange: explicitly not there, by every search
    never = _request(kind, RESTING)
    result = adapter.lookup_orders([OrderRef(
        client_order_id=never.client_order_id, market="BTC-IRR",
        created_at=datetime.now(tz=UTC), quantity=QTY, side=Side.BUY, price=RESTING)],
        known_exchange_ids=known | {found.exchange_order_id})
    assert result.not_found == {never.client_order_id} and not result.errors, result


@pytest.fixture
def variant_sandbox(shared_sandbox):
    yield shared_sandbox
    shared_sandbox.world.variants.reset()


@pytest.mark.parametrize(("name", "value"), BASELINES + CASES,
                         ids=[f"{v}-defaults" for _, v in BASELINES]
                         + [f"{n}={v}" for n, v in CASES])
def test_every_adapter_in_every_variant(sandbox_adapter, variant_sandbox, name, value):
    if name is None:  # every variant at its default: the most literal reading
        kind, told = value, {}
    else:
        kind = _kind(name)
        variant_sandbox.set_variants({name: value})
        told = {name: value} if (name, value) in TOLD else {}
    round_trip(_adapter(sandbox_adapter, kind, told), variant_sandbox, kind,
               average_known=(name, value) not in NO_AVERAGE)


@pytest.mark.parametrize(("name", "value"), sorted(TOLD), ids=[f"{n}={v}" for n, v in
                                                               sorted(TOLD)])
def test_told_variants_are_needed(sandbox_adapter, variant_sandbox, name, value):
    """Each variant in ``TOLD`` is one the adapter cannot survive untold: the
    round fails somewhere (a refusal, a wrong figure), never silently."""
    kind = _kind(name)
    assert value in ADAPTER_VARIANTS[name].values  # the adapter offers the reading
    variant_sandbox.set_variants({name: value})
    with pytest.raises((AssertionError, ExchangeError)):
        round_trip(_adapter(sandbox_adapter, kind, {}), variant_sandbox, kind)


def test_the_adapters_know_every_variant_the_sandbox_serves():
    """One vocabulary: each variant the sandbox offers is a name an Exchange row
    (or the conformance check) can record, with the same values, default first."""
    assert {name: v.values for name, v in ADAPTER_VARIANTS.items()} == VARIANTS
