"""Golden tests: the docs' own example answers, served over real HTTP, and what
each adapter makes of them.

The fixtures and their sources are in ``tests/exchanges/golden/index.json``.
An example that is not valid JSON as the docs print it is served verbatim
too: the adapter must answer it with the right error, never a crash; its
repaired copy is then read for its values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.errors import (
    AmbiguousOrderError,
    AuthenticationError,
    DuplicateOrderIdError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from exchanges.ratelimit import DEFAULT_LIMITS, backoff_state
from exchanges.states import OrderState
from exchanges.types import BookLevel, OrderRequest, OrderType, Side

D = Decimal
GOLDEN = Path(__file__).parent / "golden"
INDEX = json.loads((GOLDEN / "index.json").read_text(encoding="utf-8"))
ENTRIES = {entry["file"]: entry for entry in INDEX["fixtures"]}


def text(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


def envelope(result_text: str) -> str:
    """A Wallex result inside the documented envelope (go-wallex examples are bare)."""
    return '{"result": ' + result_text + ', "message": "ok", "success": true}'


def buy(market: str, qty: str, price: str, client_id: str = "order1") -> OrderRequest:
    return OrderRequest(market, Side.BUY, OrderType.LIMIT, D(qty), client_id, price=D(price))


# -- Nobitex ----------------------------------------------------------------------------

def nobitex_orderbook(replay, adapter_of, fixture):
    replay.route("GET", "/v3/orderbook/BTCIRT", (200, text(fixture)))
    book = adapter_of("nobitex").get_order_book("BTC-IRR")
    assert book.bids == (BookLevel(D("1470001120"), D("0.126571")),
                         BookLevel(D("1470000000"), D("0.818994")))
    assert book.asks == (BookLevel(D("1476091000"), D("1.016")),
                         BookLevel(D("1479700000"), D("0.2561")))
    assert book.exchange_time == datetime(2022, 2, 16, 6, 9, 16, 704000, tzinfo=UTC)
    assert replay.seen[0].headers["user-agent"] == "TraderBot/arbsite"
    assert "authorization" not in replay.seen[0].headers


def nobitex_place(replay, adapter_of, fixture):
    adapter = adapter_of("nobitex")
    replay.route("POST", "/market/orders/add", (200, text(fixture)))
    with pytest.raises(AmbiguousOrderError) as caught:  # as printed: not JSON
        adapter.place_order(buy("BTC-IRR", "0.6", "520000000"))
    assert caught.value.client_order_id == "order1"

    replay.route("POST", "/market/orders/add", (200, text(ENTRIES[fixture]["repaired"])))
    order = adapter.place_order(buy("BTC-IRR", "0.6", "520000000"))
    sent = replay.requests_to("POST", "/market/orders/add")[-1].json()
    assert sent == {"type": "buy", "execution": "limit", "srcCurrency": "btc",
                    "dstCurrency": "rls", "amount": "0.6", "price": "520000000",
                    "clientOrderId": "order1", "pro": "yes"}
    assert order.exchange_order_id == "25" and order.client_order_id == "order1"
    assert order.state is OrderState.OPEN and order.market == "BTC-IRR"
    assert (order.price, order.quantity, order.filled_quantity) == (
        D("520000000"), D("0.6"), D("0"))
    assert order.side is Side.SELL  # what the example answers ("type": "sell")
    assert order.average_price is None  # nothing matched: totalPrice is no average here
    assert order.created_at == datetime(2018, 11, 28, 11, 36, 13, 592827, tzinfo=UTC)


def nobitex_place_stop(replay, adapter_of, fixture):
    adapter = adapter_of("nobitex")
    replay.route("POST", "/market/orders/status", (200, text(fixture)))
    with pytest.raises(TransientError):
        adapter.get_order(exchange_order_id="26")
    replay.route("POST", "/market/orders/status", (200, text(ENTRIES[fixture]["repaired"])))
    order = adapter.get_order(exchange_order_id="26")
    assert order.state is OrderState.OPEN and order.raw_status == "Inactive"  # untriggered stop
    assert order.price is None and order.quantity == D("64")
    assert order.market == "DOGE-RLS"  # a market not configured here keeps its own name
    assert order.client_order_id == "order1" and order.exchange_order_id == "26"


def nobitex_place_failed(replay, adapter_of, fixture):
    replay.route("POST", "/market/orders/add", (200, text(fixture)))
    with pytest.raises(RejectedError) as caught:
        adapter_of("nobitex").place_order(buy("BTC-IRR", "0.6", "520000000"))
    assert not isinstance(caught.value, AmbiguousOrderError)
    assert caught.value.code == "ErrorCode"
    assert "Human readable error message" in str(caught.value)


def nobitex_status(replay, adapter_of, fixture):
    replay.route("POST", "/market/orders/status", (200, text(fixture)))
    order = adapter_of("nobitex").get_order(exchange_order_id="5684")
    assert replay.seen[0].json() == {"id": 5684}
    assert order.state is OrderState.OPEN and order.exchange_order_id == "5684"
    assert order.quantity == D("3") and order.filled_quantity == D("0")
    assert order.price == D("8500000") and order.side is Side.SELL
    assert order.client_order_id == "order1" and order.fee == D("0")
    # totalPrice is 3 × 8,500,000 with nothing matched: no average price.
    assert order.average_price is None


def nobitex_status_failed(replay, adapter_of, fixture):
    replay.route("POST", "/market/orders/status", (200, text(fixture)))
    with pytest.raises(RejectedError) as caught:
        adapter_of("nobitex").get_order(exchange_order_id="5684")
    assert not isinstance(caught.value, NotFoundError)  # an unknown code is no "not found"
    assert caught.value.code == "ErrorCode"


def nobitex_list_details2(replay, adapter_of, fixture):
    replay.route("GET", "/market/orders/list", (200, text(fixture)))
    adapter = adapter_of("nobitex")
    (order,) = adapter.open_orders("BTC-USDT")
    assert replay.seen[0].query == {"status": "open", "details": "2", "pageSize": "100",
                                    "srcCurrency": "btc", "dstCurrency": "usdt", "page": "1"}
    assert order.exchange_order_id == "173546223" and order.client_order_id == "order1"
    assert order.state is OrderState.OPEN and order.side is Side.SELL
    assert (order.price, order.quantity) == (D("9750.01"), D("0.0123"))
    assert order.market == "BTC-USDT"
    # Unfiltered, the market is read from the row's currency names.
    (order,) = adapter.open_orders()
    assert order.market == "BTC-USDT"


def nobitex_cancel(replay, adapter_of, fixture):
    replay.route("POST", "/market/orders/update-status", (200, text(fixture)))
    adapter_of("nobitex").cancel_order(exchange_order_id="5684")
    assert replay.seen[0].json() == {"order": 5684, "status": "canceled"}


def nobitex_trades(replay, adapter_of, fixture):
    replay.route("GET", "/market/trades/list", (200, text(fixture)))
    (fill,) = adapter_of("nobitex").recent_fills("USDT-IRR")
    assert replay.seen[0].query["srcCurrency"] == "usdt"
    assert replay.seen[0].query["dstCurrency"] == "rls"
    assert fill.trade_id == "123412" and fill.exchange_order_id == "1231222"
    assert fill.market == "USDT-IRR" and fill.side is Side.SELL
    assert (fill.price, fill.quantity, fill.fee) == (D("316800"), D("57.3605"),
                                                     D("27257.7096"))
    assert fill.fee_asset == "IRR"  # a sell's fee is taken from the rial it receives
    assert fill.timestamp == datetime(2022, 7, 5, 9, 57, 38, 560820, tzinfo=UTC)


def nobitex_failed(replay, adapter_of, fixture):
    replay.route("GET", "/users/wallets/list", (200, text(fixture)))
    with pytest.raises(RejectedError) as caught:
        adapter_of("nobitex").balances()
    assert caught.value.code == "ErrorCode" and caught.value.http_status == 200


def nobitex_ratelimit(replay, adapter_of, fixture):
    replay.route("GET", "/v3/orderbook/BTCIRT", (429, text(fixture)))
    adapter = adapter_of("nobitex", rate_limits=DEFAULT_LIMITS["nobitex"])
    with pytest.raises(RateLimitedError) as caught:
        adapter.get_order_book("BTC-IRR")
    assert caught.value.retry_after == 12
    state = backoff_state("nobitex")  # every process now waits, and can see why
    assert state.active and 0 < state.remaining <= 12
    assert "HTTP 429" in state.reason and "12 ثانیه" in state.reason


def nobitex_wallets(replay, adapter_of, fixture):
    replay.route("GET", "/users/wallets/list", (200, text(fixture)))
    balances = adapter_of("nobitex").balances()
    assert balances["IRR"].total == balances["IRR"].available == D("746212980")
    assert balances["IRR"].locked == D("0")
    assert balances["BTC"].total == D("0")


def nobitex_profile(replay, adapter_of, fixture):
    replay.route("GET", "/users/profile", (200, text(fixture)))
    rates = adapter_of("nobitex").fee_rates()
    assert rates["BTCIRT"].taker == D("0.0035")  # "0.35" percent
    assert rates["BTCIRT"].maker is None  # one figure per quote: the taker rate
    assert rates["BTCUSDT"].taker == D("0.002")
    assert rates["BTCIRT"].market == "BTC-IRR"


def nobitex_options(replay, adapter_of, fixture):
    adapter = adapter_of("nobitex")
    replay.route("GET", "/v2/options", (200, text(fixture)))
    with pytest.raises(TransientError, match="not JSON"):
        adapter.market_rules()
    replay.route("GET", "/v2/options", (200, text(ENTRIES[fixture]["repaired"])))
    rules = adapter.market_rules()
    btc = rules["BTCIRT"]
    assert (btc.market, btc.amount_step, btc.price_tick, btc.min_order_value) == (
        "BTC-IRR", D("0.000001"), D("10"), D("3000000"))
    assert rules["BTCUSDT"].price_tick == D("0.01") and rules["BTCUSDT"].min_order_value == D(
        "11")
    assert rules["ETHIRT"].amount_step == D("0.00001")


# -- Wallex -----------------------------------------------------------------------------

def wallex_depth_empty(replay, adapter_of, fixture):
    replay.route("GET", "/v1/depth", (200, text(fixture)))
    book = adapter_of("wallex").get_order_book("BTC-IRR")
    assert replay.seen[0].query == {"symbol": "BTCTMN"}
    assert book.bids == () and book.asks == () and book.exchange_time is None


def wallex_fee(replay, adapter_of, fixture):
    replay.route("GET", "/v1/account/fee", (200, text(fixture)))
    rates = adapter_of("wallex").fee_rates()
    assert rates["BTCTMN"].market == "BTC-IRR"
    assert rates["BTCTMN"].maker == rates["BTCTMN"].taker == D("0.002")
    assert rates["BTCUSDT"].market == "BTC-USDT"


def wallex_order(replay, adapter_of, fixture):
    replay.route("GET", "/v1/account/orders/WE_1", (200, envelope(text(fixture))))
    order = adapter_of("wallex").get_order(client_order_id="WE_1")
    assert order.state is OrderState.PARTIALLY_FILLED
    assert (order.quantity, order.filled_quantity, order.price) == (
        D("0.01"), D("0.004"), D("20950"))
    assert order.market == "BTC-USDT" and order.side is Side.BUY
    assert order.created_at == datetime(2022, 6, 17, 11, 53, 2, tzinfo=UTC)
    assert order.client_order_id == order.exchange_order_id == "WE_1"


def wallex_error(replay, adapter_of, fixture):
    adapter = adapter_of("wallex")
    replay.route("GET", "/v1/account/balances", (401, text(fixture)))
    with pytest.raises(AuthenticationError, match="invalid API key format"):
        adapter.balances()
    replay.route("POST", "/v1/account/orders", (402, text(fixture)))
    with pytest.raises(RejectedError) as caught:
        adapter.place_order(buy("BTC-IRR", "0.001", "100000000000", "WE_2"))
    assert caught.value.reason == RejectedError.INSUFFICIENT_BALANCE
    assert caught.value.code == "InsufficientBalance" and "1201" in str(caught.value)
    replay.route("POST", "/v1/account/orders", (409, text(fixture)))
    with pytest.raises(DuplicateOrderIdError) as duplicate:
        adapter.place_order(buy("BTC-IRR", "0.001", "100000000000", "WE_3"))
    assert duplicate.value.client_order_id == "WE_3"  # an order under it exists: look it up


def wallex_error_detail(replay, adapter_of, fixture):
    replay.route("GET", "/v1/depth", (400, text(fixture)))
    with pytest.raises(RejectedError, match="missing required parameter"):
        adapter_of("wallex").get_order_book("BTC-IRR")


# -- Invex ------------------------------------------------------------------------------

def invex_market_rule(replay, adapter_of, fixture):
    replay.route("GET", "/markets", (200, text(fixture)))
    rules = adapter_of("invex").market_rules()
    rule = rules["USDT_IRR"]
    assert rule.market == "USDT-IRR"
    assert (rule.price_tick, rule.amount_step) == (D("10"), D("0.01"))
    assert (rule.min_order_value, rule.max_order_value) == (D("1000000"), D("10000000000"))
    # Signed as the official example does (expire_at and signature in the query).
    assert {"expire_at", "signature"} <= set(replay.seen[0].query)


def invex_create_order(replay, adapter_of, fixture):
    replay.route("POST", "/orders", (200, text(fixture)))
    order = adapter_of("invex").place_order(buy("BTC-IRR", "0.01", "1470001125", "IE_1"))
    assert order.exchange_order_id == "550e8400-e29b-41d4-a716-446655440000"
    assert order.state is OrderState.OPEN and order.client_order_id == "IE_1"
    sent = replay.seen[0].json()
    assert list(sent)[:6] == ["quantity", "price", "symbol", "side", "type", "client_order_id"]
    assert sent["symbol"] == "BTC_IRR" and sent["side"] == "BUYER"


CHECKS: dict[str, Callable] = {
    "nobitex/orderbook_v3.json": nobitex_orderbook,
    "nobitex/place.json": nobitex_place,
    "nobitex/place_stop.json": nobitex_place_stop,
    "nobitex/place_failed.json": nobitex_place_failed,
    "nobitex/status.json": nobitex_status,
    "nobitex/status_failed.json": nobitex_status_failed,
    "nobitex/list_details2.json": nobitex_list_details2,
    "nobitex/cancel.json": nobitex_cancel,
    "nobitex/trades.json": nobitex_trades,
    "nobitex/failed.json": nobitex_failed,
    "nobitex/ratelimit_429.json": nobitex_ratelimit,
    "nobitex/wallets.json": nobitex_wallets,
    "nobitex/profile.json": nobitex_profile,
    "nobitex/options.json": nobitex_options,
    "wallex/depth_empty.json": wallex_depth_empty,
    "wallex/fee.json": wallex_fee,
    "wallex/order_go_wallex.json": wallex_order,
    "wallex/error_go_wallex.json": wallex_error,
    "wallex/error_detail_go_wallex.json": wallex_error_detail,
    "invex/market_rule.json": invex_market_rule,
    "invex/create_order.json": invex_create_order,
}


@pytest.mark.parametrize("fixture", sorted(CHECKS))
def test_golden(fixture, replay, replay_adapter):
    CHECKS[fixture](replay, replay_adapter, fixture)


def test_every_fixture_is_indexed_and_checked():
    on_disk = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.json") if p.name != "index.json"}
    repaired = {e["repaired"] for e in INDEX["fixtures"] if e["repaired"]}
    assert on_disk == set(ENTRIES) | repaired
    assert set(CHECKS) == set(ENTRIES)
    for entry in INDEX["fixtures"]:
        assert entry["source"] and entry["path"] and entry["section"], entry["file"]
        try:
            json.loads(text(entry["file"]))
            valid = True
        except ValueError:
            valid = False
        # An example that is not JSON as printed has a repaired copy, and only then.
        assert valid is (entry["repaired"] is None), entry["file"]
