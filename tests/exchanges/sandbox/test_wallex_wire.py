"""Wallex as its docs describe it: developers.wallex.ir (spot-create-order, spot-cancel-order,
spot-single-order-detail, spot-active-orders, spot-order-list, the error table), the 2022
api-docs.wallex.ir edition and darhelm/go-wallex where the new pages are silent (page names
as docs/EXCHANGES.md (Wallex) cites them)."""

from decimal import Decimal as D

from .conftest import WallexClient, balances

OK = "عملیات با موفقیت انجام شد"


def test_depth_in_toman_inside_the_envelope(wallex):
    """GET /v1/depth (api-docs.wallex.ir): result.ask/bid of {price, quantity, sum}."""
    body = wallex.get("/v1/depth", symbol="BTCTMN").json()
    assert body["success"] is True and body["message"] == OK
    ask = body["result"]["ask"][0]
    assert ask == {"price": "10004000000", "quantity": "0.05", "sum": "500200000"}
    assert wallex.get("/v1/depth").status_code == 400
    assert set(wallex.get("/v2/depth/all").json()["result"]) >= {"BTCTMN", "USDTTMN"}


def test_markets_give_step_and_tick_as_decimal_places_and_min_notional(wallex):
    """GET /v1/markets: stepSize/tickSize are decimal places; minNotional 100,000 toman
    in TMN markets (the ccxt example cited in exchanges.md)."""
    btc = wallex.get("/v1/markets").json()["result"]["symbols"]["BTCTMN"]
    assert btc["stepSize"] == 6 and btc["tickSize"] == 0
    assert btc["minNotional"] == "100000" and btc["minQty"] == "0.000001"
    assert btc["baseAsset"] == "BTC" and btc["quoteAsset"] == "TMN"


def test_place_answers_201_with_created_at_and_transact_time_zero(wallex):
    """spot-create-order: HTTP 201; orders carry created_at/updated_at, transactTime 0."""
    resp = wallex.place(side="BUY", price="10010000000", quantity="0.01", client_id="ARB_2")
    assert resp.status_code == 201
    order = resp.json()["result"]
    assert order["clientOrderId"] == "ARB_2" and order["status"] == "FILLED"
    assert order["transactTime"] == 0 and order["created_at"].endswith("Z")
    assert order["executedQty"] == "0.01" and order["executedPrice"] == "10004000000"
    assert order["executedSum"] == "100040000" and order["active"] is False


def test_fills_have_no_trade_id(wallex):
    """fills[] entries: price, quantity, sum, fee, feeAsset, feeCoefficient, isBuyer,
    timestamp; no trade id."""
    order = wallex.place(side="BUY", price="10010000000", quantity="0.1",
                         client_id="ARB_F").json()["result"]
    assert len(order["fills"]) == 2
    fill = order["fills"][0]
    assert {"price", "quantity", "sum", "fee", "feeAsset", "feeCoefficient", "isBuyer",
            "timestamp"} <= set(fill)
    assert not {"id", "tradeId", "orderId"} & set(fill)
    assert fill["feeAsset"] == "BTC" and fill["isBuyer"] is True


def test_client_id_allows_only_capitals_digits_and_underscore(wallex):
    """spot-create-order: client_id of A–Z, 0–9 and _ only, "or the order is not placed"
    (variant wallex-client-id=strict)."""
    for bad in ("arb-1", "lower", "ARB 1", "ARB-1"):
        resp = wallex.place(side="BUY", price="9000000000", quantity="0.01", client_id=bad)
        assert resp.status_code == 400 and resp.json()["success"] is False, bad
    assert wallex.place(side="BUY", price="9000000000", quantity="0.01",
                        client_id="ARB_01").status_code == 201


def test_duplicate_client_id_is_409_and_insufficient_balance_402(wallex):
    """Error table: 409 duplicate order id, 402 insufficient balance."""
    wallex.place(side="BUY", price="9000000000", quantity="0.01", client_id="DUP_1")
    dup = wallex.place(side="BUY", price="9000000000", quantity="0.01", client_id="DUP_1")
    assert dup.status_code == 409 and dup.json()["success"] is False
    poor = wallex.place(side="BUY", price="9000000000", quantity="5", client_id="POOR_1")
    assert poor.status_code == 402
    body = poor.json()
    assert set(body) == {"success", "code", "message", "result"} and body["result"] == {}


def test_without_client_id_wallex_makes_one(wallex):
    """The order example's clientOrderId "LIMIT-93c7…": Wallex names it when you do not."""
    order = wallex.place(side="BUY", price="9000000000", quantity="0.01").json()["result"]
    assert order["clientOrderId"].startswith("LIMIT-")


def test_order_lookup_404_order_not_found_with_envelope(wallex):
    """generated-get-orders-client: 404 "Order not found" for an unknown client id."""
    resp = wallex.get("/v1/account/orders/NEVER_PLACED")
    assert resp.status_code == 404
    body = resp.json()
    assert body["success"] is False and body["message"] == "Order not found"


def test_partial_fill_shows_in_executed_qty_and_status_new(sandbox, wallex):
    """A partial fill shows in executedQty; the documented statuses are NEW, FILLED,
    CANCELED (variant wallex-partial-status)."""
    sandbox.set_book("wallex", "BTCTMN", asks=[["10000000000", "0.01"]],
                     bids=[["9900000000", "1"]])
    order = wallex.place(side="BUY", price="10000000000", quantity="0.03",
                         client_id="PART_1").json()["result"]
    assert order["status"] == "NEW" and order["executedQty"] == "0.01"
    assert order["active"] is True
    assert balances(sandbox, "wallex")["TMN"]["blocked"] == D("0.02") * D("10000000000")


def test_cancel_by_query_answers_the_order_as_finished(sandbox, wallex):
    """DELETE /v1/account/orders?clientOrderId= (old docs, go-wallex); the cancel page
    shows FINISHED; later lookups say CANCELED (variant wallex-finished)."""
    wallex.place(side="BUY", price="9000000000", quantity="0.01", client_id="C_1")
    resp = wallex.delete("/v1/account/orders", clientOrderId="C_1")
    assert resp.status_code == 200
    assert resp.json()["result"]["status"] == "FINISHED"
    assert wallex.get("/v1/account/orders/C_1").json()["result"]["status"] == "CANCELED"
    assert balances(sandbox, "wallex")["TMN"]["blocked"] == 0
    again = wallex.delete("/v1/account/orders", clientOrderId="C_1")
    assert again.status_code == 422
    assert wallex.delete("/v1/account/orders", clientOrderId="NOPE").status_code == 404
    # the path form is the other variant
    assert wallex.session.delete(wallex.base + "/v1/account/orders/C_1",
                                 timeout=5).status_code == 404


def test_open_orders_are_paginated_and_a_map_of_lists(wallex):
    """spot-active-orders: GET /v1/account/openOrders?symbol&page&per_page; result is a
    map of lists in the new docs (variant wallex-open-orders)."""
    for i in range(3):
        wallex.place(side="BUY", price=str(9000000000 - i), quantity="0.01", client_id=f"O_{i}")
    wallex.place(symbol="USDTTMN", side="BUY", price="90000", quantity="10", client_id="O_U")
    result = wallex.get("/v1/account/openOrders").json()["result"]
    assert set(result) == {"BTCTMN", "USDTTMN"} and len(result["BTCTMN"]) == 3
    page = wallex.get("/v1/account/openOrders", symbol="BTCTMN", page=2, per_page=2).json()
    assert [o["clientOrderId"] for o in page["result"]["BTCTMN"]] == ["O_0"]
    assert wallex.get("/v1/account/openOrders", per_page=1000).status_code == 400


def test_order_history_lists_closed_orders_too(wallex):
    """spot-order-list: GET /v1/account/orders with from, to, page, per_page, type, side,
    market."""
    wallex.place(side="BUY", price="10010000000", quantity="0.01", client_id="H_1")
    wallex.place(side="BUY", price="9000000000", quantity="0.01", client_id="H_2")
    result = wallex.get("/v1/account/orders", market="BTCTMN").json()["result"]
    assert [o["clientOrderId"] for o in result["BTCTMN"]] == ["H_2", "H_1"]
    assert wallex.get("/v1/account/orders", market="ETHTMN").json()["result"] == {}
    assert wallex.get("/v1/account/orders", side="SELL").json()["result"] == {}
    assert wallex.get("/v1/account/orders", **{"from": "9999999999"}).json()["result"] == {}


def test_trades_list_carries_no_order_or_trade_id(wallex):
    """GET /v1/account/trades: result.AccountLatestTrades[] (old docs; go-wallex
    UserTrade) with neither an order id nor a trade id."""
    wallex.place(side="BUY", price="10010000000", quantity="0.01", client_id="T_1")
    (trade,) = wallex.get("/v1/account/trades", symbol="BTCTMN").json()["result"][
        "AccountLatestTrades"]
    assert trade["quantity"] == "0.01" and trade["isBuyer"] is True
    assert not {"id", "tradeId", "orderId", "clientOrderId"} & set(trade)


def test_balances_fee_and_auth(sandbox, wallex):
    """balances: result.balances.{ASSET}: {asset, faName, fiat, value, locked};
    /v1/account/fee per symbol; 401 for a bad key; 403 for a key without trade."""
    bal = wallex.get("/v1/account/balances").json()["result"]["balances"]["TMN"]
    assert bal == {"asset": "TMN", "faName": "تومان", "fiat": True, "value": "10000000000",
                   "locked": "0"}
    fee = wallex.get("/v1/account/fee").json()["result"]["BTCTMN"]
    assert fee["takerFeeRate"] == "0.00400000" and fee["makerFeeRate"] == "0.00300000"
    assert WallexClient(sandbox.base_url("wallex"), key="nope").get(
        "/v1/account/balances").status_code == 401
    from exchanges.sandbox import SandboxAccount
    sandbox.add_account(SandboxAccount("wallex", "read-only", permissions=("read",)))
    reader = WallexClient(sandbox.base_url("wallex"), key="read-only")
    assert reader.get("/v1/account/balances").status_code == 200
    assert reader.place(side="BUY", price="9000000000", quantity="0.01",
                        client_id="RO_1").status_code == 403


def test_rate_limit_headers_and_429(invex_keys):
    """Place is limited to 20 requests per 10 s; answers carry x-ratelimit-limit and
    x-ratelimit-remaining."""
    from .conftest import make_server

    with make_server(invex_keys[1], rate_limits=True) as server:
        client = WallexClient(server.base_url("wallex"))
        remaining = []
        for i in range(20):
            resp = client.place(side="BUY", price="9000000000", quantity="0.01",
                                client_id=f"RL_{i}")
            assert resp.status_code == 201
            remaining.append(int(resp.headers["x-ratelimit-remaining"]))
        assert resp.headers["x-ratelimit-limit"] == "20" and remaining[0] == 19
        assert remaining[-1] == 0
        limited = client.place(side="BUY", price="9000000000", quantity="0.01",
                               client_id="RL_X")
        assert limited.status_code == 429 and limited.json()["success"] is False
        assert limited.headers["x-ratelimit-remaining"] == "0"
