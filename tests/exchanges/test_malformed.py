"""Every adapter call reads its answer through one checked path (issue 10.4).

For each endpoint of each adapter, an empty, ``{}``, ``[]``, ``null``,
non-JSON, truncated, wrong-typed or all-null answer is an error of the right
class: ``AmbiguousOrderError`` after a place (the order may exist),
``TransientError`` for reads and cancels; never an ``AttributeError``,
``KeyError`` or ``TypeError``. Served over real HTTP by a local server, and
through the sandbox's own malformed-body fault.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from exchanges.errors import AmbiguousOrderError, TransientError
from exchanges.interface import ExchangeAdapter
from exchanges.types import OrderRequest, OrderType, Side

D = Decimal


def place(adapter: ExchangeAdapter) -> Any:
    return adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D("0.001"),
                                            "XE_MALFORMED1", price=D("95000000000")))


@dataclass(frozen=True)
class Endpoint:
    kind: str
    name: str
    routes: tuple[tuple[str, str], ...]  # every route the call may use
    call: Callable[[ExchangeAdapter], Any]
    valid: Any  # a well-formed answer, to truncate and to mutate
    places: bool = False

    def __str__(self) -> str:
        return f"{self.kind}-{self.name}"


NOBITEX_ORDER = {"id": 1, "type": "buy", "execution": "Limit", "srcCurrency": "Bitcoin",
                 "dstCurrency": "﷼", "price": "95000000000", "amount": "0.001",
                 "status": "Active", "matchedAmount": "0", "clientOrderId": "XE_MALFORMED1",
                 "created_at": "2026-01-01T10:00:00+00:00"}
WALLEX_ORDER = {"symbol": "BTCTMN", "type": "LIMIT", "side": "BUY",
                "clientOrderId": "XE_MALFORMED1", "price": "9500000000", "origQty": "0.001",
                "executedQty": "0", "status": "NEW", "active": True, "fills": [],
                "created_at": "2026-01-02T03:04:05Z"}
INVEX_ORDER = {"order_id": "u-1", "symbol": "BTC_IRR", "status": "NOT_FILLED", "type": "LIMIT",
               "side": "BUYER", "price": "95000000000", "quantity": "0.001",
               "deal_quantity": "0", "client_order_id": "XE_MALFORMED1",
               "created_at": "2026-01-01T10:00:00+00:00"}


def ok(result: Any) -> dict:
    return {"result": result, "message": "ok", "success": True}


ENDPOINTS = [
    Endpoint("nobitex", "book", (("GET", "/v3/orderbook/BTCIRT"),),
             lambda a: a.get_order_book("BTC-IRR"),
             {"status": "ok", "lastUpdate": 1, "asks": [["2", "1"]], "bids": [["1", "1"]]}),
    Endpoint("nobitex", "place", (("POST", "/market/orders/add"),), place,
             {"status": "ok", "order": NOBITEX_ORDER}, places=True),
    Endpoint("nobitex", "status", (("POST", "/market/orders/status"),),
             lambda a: a.get_order(exchange_order_id="1"),
             {"status": "ok", "order": NOBITEX_ORDER}),
    Endpoint("nobitex", "find-by-client-id",
             (("POST", "/market/orders/status"), ("GET", "/market/orders/list")),
             lambda a: a.find_order("XE_MALFORMED1"), {"status": "ok", "order": NOBITEX_ORDER}),
    Endpoint("nobitex", "open-orders", (("GET", "/market/orders/list"),),
             lambda a: a.open_orders(), {"status": "ok", "orders": [NOBITEX_ORDER]}),
    Endpoint("nobitex", "cancel", (("POST", "/market/orders/update-status"),),
             lambda a: a.cancel_order(exchange_order_id="1"),
             {"status": "ok", "updatedStatus": "Canceled"}),
    Endpoint("nobitex", "balances", (("GET", "/users/wallets/list"),), lambda a: a.balances(),
             {"status": "ok", "wallets": [{"currency": "rls", "balance": "1",
                                           "blockedBalance": "0", "activeBalance": "1"}]}),
    Endpoint("nobitex", "fills", (("GET", "/market/trades/list"),),
             lambda a: a.recent_fills("BTC-IRR"),
             {"status": "ok", "trades": [{"id": 1, "orderId": 1, "market": "BTC-RLS",
                                          "timestamp": "2026-01-01T10:00:00+00:00",
                                          "type": "buy", "price": "1", "amount": "1",
                                          "fee": "0"}]}),
    Endpoint("nobitex", "options", (("GET", "/v2/options"),), lambda a: a.market_rules(),
             {"status": "ok", "nobitex": {"amountPrecisions": {"BTCIRT": "0.000001"},
                                          "pricePrecisions": {"BTCIRT": "10"},
                                          "minOrders": {"rls": "3000000"}}}),
    Endpoint("nobitex", "profile", (("GET", "/users/profile"),), lambda a: a.fee_rates(),
             {"status": "ok", "profile": {"options": {"fee": "0.35", "feeUsdt": "0.2"}}}),
    Endpoint("wallex", "book", (("GET", "/v1/depth"),), lambda a: a.get_order_book("BTC-IRR"),
             ok({"ask": [{"price": "2", "quantity": "1"}], "bid": [{"price": "1",
                                                                    "quantity": "1"}]})),
    Endpoint("wallex", "place", (("POST", "/v1/account/orders"),), place, ok(WALLEX_ORDER),
             places=True),
    Endpoint("wallex", "status", (("GET", "/v1/account/orders/XE_MALFORMED1"),),
             lambda a: a.get_order(client_order_id="XE_MALFORMED1"), ok(WALLEX_ORDER)),
    Endpoint("wallex", "open-orders", (("GET", "/v1/account/openOrders"),),
             lambda a: a.open_orders(), ok({"orders": [WALLEX_ORDER]})),
    Endpoint("wallex", "cancel", (("DELETE", "/v1/account/orders"),
                                  ("DELETE", "/v1/account/orders/XE_MALFORMED1")),
             lambda a: a.cancel_order(client_order_id="XE_MALFORMED1"), ok(WALLEX_ORDER)),
    Endpoint("wallex", "balances", (("GET", "/v1/account/balances"),), lambda a: a.balances(),
             ok({"balances": {"BTC": {"asset": "BTC", "value": "1", "locked": "0"}}})),
    Endpoint("wallex", "fills", (("GET", "/v1/account/orders"), ("GET", "/v1/account/trades")),
             lambda a: a.recent_fills("BTC-IRR"), ok({"orders": [WALLEX_ORDER]})),
    Endpoint("wallex", "markets", (("GET", "/v1/markets"),), lambda a: a.market_rules(),
             ok({"symbols": {"BTCTMN": {"symbol": "BTCTMN", "stepSize": 6, "tickSize": 0}}})),
    Endpoint("wallex", "fee", (("GET", "/v1/account/fee"),), lambda a: a.fee_rates(),
             ok({"BTCTMN": {"makerFeeRate": "0.002", "takerFeeRate": "0.002"}})),
    Endpoint("invex", "book", (("GET", "/market-depth"),), lambda a: a.get_order_book("BTC-IRR"),
             {"ask_orders": [{"depth": 1, "price": "2", "quantity": "1"}],
              "bid_orders": [{"depth": 1, "price": "1", "quantity": "1"}]}),
    Endpoint("invex", "place", (("POST", "/orders"),), place, {"order_id": "u-1"}, places=True),
    Endpoint("invex", "status", (("GET", "/order"),),
             lambda a: a.get_order(exchange_order_id="u-1"), INVEX_ORDER),
    Endpoint("invex", "open-orders", (("GET", "/orders"),), lambda a: a.open_orders(),
             {"orders": [INVEX_ORDER], "total_count": 1}),
    Endpoint("invex", "cancel", (("DELETE", "/orders"),),
             lambda a: a.cancel_order(exchange_order_id="u-1"), {"cancel_order_id": "c-1"}),
    Endpoint("invex", "balances", (("GET", "/accounts"),), lambda a: a.balances(),
             {"currency": "IRR", "available": "1", "blocked": "0", "total": "1"}),
    Endpoint("invex", "fills", (("GET", "/orders"),), lambda a: a.recent_fills("BTC-IRR"),
             {"orders": [INVEX_ORDER], "total_count": 1}),
    Endpoint("invex", "markets", (("GET", "/markets"),), lambda a: a.market_rules(),
             {"rules": [{"symbol": "BTC_IRR", "tick_size": "10", "amount_step_size": "0.000001",
                         "minimum_limit_order_value": "1"}]}),
]


def _leaves(value: Any, replace_with: Callable[[], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _leaves(v, replace_with) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaves(v, replace_with) for v in value]
    return replace_with()


BODIES: dict[str, Callable[[Any], bytes]] = {
    "empty": lambda valid: b"",
    "object": lambda valid: b"{}",
    "list": lambda valid: b"[]",
    "null": lambda valid: b"null",
    "string": lambda valid: b'"ok"',
    "not-json": lambda valid: b"<html>502 Bad Gateway</html>",
    "truncated": lambda valid: json.dumps(valid).encode()[: len(json.dumps(valid)) // 2],
    "wrong-types": lambda valid: json.dumps(_leaves(valid, lambda: [])).encode(),
    "all-null": lambda valid: json.dumps(_leaves(valid, lambda: None)).encode(),
    "objects-for-values": lambda valid: json.dumps(_leaves(valid, lambda: {"x": 1})).encode(),
}


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_malformed_answers_are_errors_of_the_right_class(replay, replay_adapter, endpoint,
                                                         body):
    raw = BODIES[body](endpoint.valid)
    for method, path in endpoint.routes:
        replay.route(method, path, (200, raw))
    adapter = replay_adapter(endpoint.kind)
    with pytest.raises(TransientError if not endpoint.places else AmbiguousOrderError) as caught:
        endpoint.call(adapter)
    if not endpoint.places:
        assert not isinstance(caught.value, AmbiguousOrderError)
    else:
        assert caught.value.client_order_id == "XE_MALFORMED1"
    assert endpoint.kind in str(caught.value)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_the_well_formed_answer_is_read(replay, replay_adapter, endpoint):
    """The control: the same endpoints with the valid answer do not raise."""
    for method, path in endpoint.routes:
        replay.route(method, path, (200, endpoint.valid))
    endpoint.call(replay_adapter(endpoint.kind))


SANDBOX_CALLS = {
    "book": lambda a: a.get_order_book("BTC-IRR"),
    "status": lambda a: a.get_order(client_order_id="XE_NEVER_PLACED"),
    "open-orders": lambda a: a.open_orders(),
    "cancel": lambda a: a.cancel_order(client_order_id="XE_NEVER_PLACED"),
    "balances": lambda a: a.balances(),
    "fills": lambda a: a.recent_fills("BTC-IRR"),
    "place": place,
}


@pytest.mark.parametrize("call", sorted(SANDBOX_CALLS))
@pytest.mark.parametrize("kind", ["nobitex", "wallex", "invex"])
def test_sandbox_malformed_body_fault(sandbox_adapter, shared_sandbox, kind, call):
    adapter = sandbox_adapter(kind, read_retries=0)
    shared_sandbox.set_faults(f"{kind}:malformed=1")
    expected = AmbiguousOrderError if call == "place" else TransientError
    with pytest.raises(expected) as caught:
        SANDBOX_CALLS[call](adapter)
    if call != "place":
        assert not isinstance(caught.value, AmbiguousOrderError)
