"""Each adapter against the sandbox over real HTTP: the user-visible promises."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchanges.client_ids import new_client_order_id
from exchanges.errors import (
    AmbiguousOrderError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from exchanges.interface import ExchangeAdapter
from exchanges.states import OrderState
from exchanges.types import ExchangeOrder, OrderRef, OrderRequest, OrderType, Side

D = Decimal
KINDS = ["nobitex", "wallex", "invex"]
FAIR_BTC = D("100000000000")  # rial, the static scenario's fair price


def cid() -> str:
    """A client order id as trading mints them: valid on every exchange (Wallex's
    A-Z, 0-9 and _), at most 32 characters (Nobitex)."""
    return new_client_order_id(exchange_kind="wallex", purpose="test")


def buy(price: Decimal, qty: str = "0.001", client_order_id: str | None = None) -> OrderRequest:
    return OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D(qty),
                        client_order_id or cid(), price=price)


def wait_for(adapter: ExchangeAdapter, order_id: str, state: OrderState) -> ExchangeOrder:
    deadline = time.monotonic() + 3
    while True:
        order = adapter.get_order(exchange_order_id=order_id)
        if order.state is state or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def _ref(request: OrderRequest) -> OrderRef:
    return OrderRef(client_order_id=request.client_order_id, market=request.market,
                    created_at=datetime.now(tz=UTC), quantity=request.quantity,
                    side=request.side, price=request.price)


def orders_placed(shared_sandbox, kind: str) -> int:
    return shared_sandbox.state()["exchanges"][kind]["counters"]["orders_placed"]


@pytest.mark.parametrize("kind", KINDS)
def test_book_in_rial_best_first(sandbox_adapter, kind):
    book = sandbox_adapter(kind).get_order_book("BTC-IRR")
    assert book.exchange == kind and book.market == "BTC-IRR"
    # The static books are the same price in each exchange's unit: rial here.
    assert book.best_ask.price == D("100040000000")
    assert book.best_bid.price < book.best_ask.price
    assert [lvl.price for lvl in book.bids] == sorted((lvl.price for lvl in book.bids),
                                                      reverse=True)
    assert [lvl.price for lvl in book.asks] == sorted(lvl.price for lvl in book.asks)
    assert all(isinstance(lvl.amount, Decimal) for lvl in book.bids + book.asks)


@pytest.mark.parametrize("kind", KINDS)
def test_usdt_market_book(sandbox_adapter, kind):
    book = sandbox_adapter(kind).get_order_book("BTC-USDT")
    assert D("90000") < book.best_bid.price < book.best_ask.price < D("110000")


@pytest.mark.parametrize("kind", KINDS)
def test_balances_irr_in_rial(sandbox_adapter, kind):
    balances = sandbox_adapter(kind).balances()
    assert balances["IRR"].total == D("100000000000")  # Wallex: 10^10 toman
    assert balances["BTC"].available == D("1")


@pytest.mark.parametrize("kind", KINDS)
def test_resting_order_lifecycle(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind)
    request = buy(D("95000000005"))

    placed = adapter.place_order(request)

    assert placed.state is OrderState.OPEN
    assert placed.client_order_id == request.client_order_id
    by_client = adapter.get_order(client_order_id=request.client_order_id)
    by_id = adapter.get_order(exchange_order_id=placed.exchange_order_id)
    for order in (by_client, by_id):
        assert order.state is OrderState.OPEN
        assert order.price == D("95000000000")  # rounded down to the tick, in rial
        assert order.quantity == D("0.001") and order.side is Side.BUY
        assert order.exchange_order_id == placed.exchange_order_id
    assert adapter.balances()["IRR"].locked == D("95000000")
    # Nobitex's list rows (details=2) name no client order id [doc: the details
    # field table; variant nobitex-details-client-id]: open orders are known by id.
    assert [o.exchange_order_id for o in adapter.open_orders("BTC-IRR")] == [
        placed.exchange_order_id]
    assert placed.exchange_order_id in {o.exchange_order_id for o in adapter.open_orders()}

    adapter.cancel_order(exchange_order_id=placed.exchange_order_id)

    assert wait_for(adapter, placed.exchange_order_id, OrderState.CANCELLED).state is (
        OrderState.CANCELLED)
    assert adapter.open_orders("BTC-IRR") == []
    # Nobitex finds a client id only while open; its list then settles it, matching
    # by what the order was (side, amount, price, time) among the orders known.
    found = adapter.lookup_orders([_ref(request)], known_exchange_ids=set()).found
    assert found[request.client_order_id].state is OrderState.CANCELLED
    assert found[request.client_order_id].exchange_order_id == placed.exchange_order_id


@pytest.mark.parametrize("kind", KINDS)
def test_crossing_order_fills_with_fees(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind)
    request = buy(D("101000000000"), qty="0.01")

    placed = adapter.place_order(request)
    order = wait_for(adapter, placed.exchange_order_id, OrderState.FILLED)

    assert order.state is OrderState.FILLED
    assert order.filled_quantity == D("0.01")
    assert order.average_price == D("100040000000")
    fills = adapter.recent_fills("BTC-IRR")
    assert sum(f.quantity for f in fills) == D("0.01")
    fill = fills[0]
    assert fill.price == D("100040000000") and fill.side is Side.BUY
    assert fill.fee_asset == "BTC" and fill.fee > 0
    assert fill.trade_id and fill.timestamp is not None
    assert [f.trade_id for f in adapter.recent_fills("BTC-IRR")] == [f.trade_id for f in fills]
    balances = adapter.balances()
    assert balances["IRR"].total == D("100000000000") - D("1000400000")
    assert balances["BTC"].total == D("1") + D("0.01") - fill.fee


@pytest.mark.parametrize("kind", KINDS)
def test_sell_order_in_toman_on_wallex(sandbox_adapter, shared_sandbox, kind):
    adapter = sandbox_adapter(kind)
    request = OrderRequest("BTC-IRR", Side.SELL, OrderType.LIMIT, D("0.001"), cid(),
                           price=D("105000000001"))
    placed = adapter.place_order(request)
    assert placed.price == D("105000000010") or kind == "invex"  # Invex answers only an id
    assert adapter.get_order(client_order_id=request.client_order_id).price == D("105000000010")
    native = shared_sandbox.state()["exchanges"][kind]["orders"][-1]["price"]
    assert D(native) == (D("10500000001") if kind == "wallex" else D("105000000010"))


@pytest.mark.parametrize("kind", KINDS)
def test_market_order(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind)
    request = OrderRequest("BTC-IRR", Side.SELL, OrderType.MARKET, D("0.01"), cid(),
                           price=FAIR_BTC)
    placed = adapter.place_order(request)
    order = wait_for(adapter, placed.exchange_order_id, OrderState.FILLED)
    assert order.state is OrderState.FILLED and order.filled_quantity == D("0.01")


@pytest.mark.parametrize("kind", KINDS)
def test_small_order_refused_locally_before_http(sandbox_adapter, shared_sandbox, kind):
    adapter = sandbox_adapter(kind)
    requests_before = shared_sandbox.state()["exchanges"][kind]["counters"]["requests"]
    with pytest.raises(RejectedError) as caught:
        adapter.place_order(buy(FAIR_BTC, qty="0.00002"))
    assert caught.value.code == "LocalSmallOrder"
    assert shared_sandbox.state()["exchanges"][kind]["counters"]["requests"] == requests_before


@pytest.mark.parametrize("kind", KINDS)
def test_insufficient_balance_is_rejected_by_the_exchange(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind)
    with pytest.raises(RejectedError) as caught:
        adapter.place_order(buy(D("95000000000"), qty="5"))
    assert caught.value.exchange == kind
    assert caught.value.code
    assert adapter.open_orders() == []


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_credentials(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind, api_key="not-the-right-key-123")
    with pytest.raises(AuthenticationError) as caught:
        adapter.balances()
    assert "not-the-right-key-123" not in str(caught.value)


def test_invex_wrong_private_key_is_refused_by_signature(sandbox_adapter):
    from exchanges.sandbox.signing import new_key_pair

    adapter = sandbox_adapter("invex", api_secret=new_key_pair()[0])
    with pytest.raises(AuthenticationError, match="signature"):
        adapter.balances()


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_order_is_not_found(sandbox_adapter, kind):
    adapter = sandbox_adapter(kind)
    with pytest.raises(NotFoundError):
        adapter.get_order(client_order_id="never-placed-1")
    assert adapter.find_order("never-placed-1") is None


@pytest.mark.parametrize("kind", KINDS)
def test_lost_answer_is_ambiguous_then_found_by_client_order_id(sandbox_adapter, shared_sandbox,
                                                                kind):
    adapter = sandbox_adapter(kind)
    shared_sandbox.set_faults(f"{kind}:lost_answer=1")
    request = buy(D("95000000000"))

    with pytest.raises(AmbiguousOrderError) as caught:
        adapter.place_order(request)

    assert caught.value.client_order_id == request.client_order_id
    assert orders_placed(shared_sandbox, kind) == 1  # sent once, never re-sent
    shared_sandbox.clear_faults()
    found = adapter.find_order(request.client_order_id)
    assert found is not None and found.state is OrderState.OPEN
    assert found.client_order_id == request.client_order_id


@pytest.mark.parametrize("kind", KINDS)
def test_lost_answer_of_a_filled_order_is_found(sandbox_adapter, shared_sandbox, kind):
    adapter = sandbox_adapter(kind)
    shared_sandbox.set_faults(f"{kind}:lost_answer=1")
    request = buy(D("101000000000"))
    with pytest.raises(AmbiguousOrderError):
        adapter.place_order(request)
    shared_sandbox.clear_faults()
    # As trading asks (sync.orders_lookup): with what the order was and the ids known.
    result = adapter.lookup_orders([_ref(request)], known_exchange_ids=set())
    found = result.found[request.client_order_id]
    assert found.state is OrderState.FILLED and found.filled_quantity == D("0.001")
    assert not result.not_found


@pytest.mark.parametrize("kind", KINDS)
def test_server_error_on_place_is_ambiguous_and_resolves_to_absent(sandbox_adapter, shared_sandbox,
                                                                   kind):
    adapter = sandbox_adapter(kind)
    shared_sandbox.set_faults(f"{kind}:error5xx=1")
    request = buy(D("95000000000"))
    with pytest.raises(AmbiguousOrderError):
        adapter.place_order(request)
    shared_sandbox.clear_faults()
    assert adapter.find_order(request.client_order_id) is None


@pytest.mark.parametrize("fault", ["error5xx", "malformed"])
@pytest.mark.parametrize("kind", KINDS)
def test_read_faults_are_transient(sandbox_adapter, shared_sandbox, kind, fault):
    adapter = sandbox_adapter(kind, read_retries=1)
    shared_sandbox.set_faults(f"{kind}:{fault}=1")
    with pytest.raises(TransientError) as caught:
        adapter.get_order_book("BTC-IRR")
    assert not isinstance(caught.value, AmbiguousOrderError)
    assert kind in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_timeouts(sandbox_adapter, shared_sandbox, kind):
    adapter = sandbox_adapter(kind, read_timeout=0.3, read_retries=0)
    shared_sandbox.set_faults(f"{kind}:timeout=1")
    with pytest.raises(TransientError,
                       match=r"no answer from http://127.0.0.1:\d+/\S+ within 0.3s"):
        adapter.get_order_book("BTC-IRR")
    with pytest.raises(AmbiguousOrderError):
        adapter.place_order(buy(D("95000000000")))


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limited_answer(sandbox_adapter, shared_sandbox, kind):
    adapter = sandbox_adapter(kind, default_backoff=7.0)
    shared_sandbox.set_faults(f"{kind}:ratelimit=1")
    with pytest.raises(RateLimitedError) as caught:
        adapter.get_order_book("BTC-IRR")
    if kind == "nobitex":  # its 429 carries backOff seconds [doc: general notes]
        assert 1 <= caught.value.retry_after <= 3
    else:  # Wallex and Invex document no back-off value: the configured default
        assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused_place_is_not_ambiguous(kind, invex_keys):
    from tests.exchanges.conftest import make_adapter

    adapter = make_adapter(kind, "http://127.0.0.1:9",
                           api_secret=invex_keys[0] if kind == "invex" else "")
    with pytest.raises(TransientError, match="not sent") as caught:
        adapter.place_order(buy(FAIR_BTC))
    assert not isinstance(caught.value, AmbiguousOrderError)
