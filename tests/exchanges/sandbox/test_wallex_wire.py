"""Wallex's wire format: envelope, toman prices, orders known by client order id."""

from decimal import Decimal as D

from .conftest import WallexClient, balances

OK = {"message": "The operation was successful", "success": True}


def test_depth_in_toman_with_envelope(wallex):
    body = wallex.get("/v1/depth", symbol="BTCTMN").json()
    assert body["success"] is True and body["message"] == OK["message"]
    ask = body["result"]["ask"][0]
    assert ask == {"price": "10004000000", "quantity": "0.05", "sum": "500200000"}
    assert body["result"]["bid"][0]["price"] == "9996000000"
    assert len(body["result"]["ask"]) >= 20


def test_markets_give_decimal_places(wallex):
    symbols = wallex.get("/v1/markets").json()["result"]["symbols"]
    assert symbols["BTCTMN"]["stepSize"] == 6 and symbols["BTCTMN"]["tickSize"] == 0
    assert symbols["BTCUSDT"]["tickSize"] == 2
    assert symbols["BTCTMN"]["minNotional"] == "300000"


def test_place_fill_and_fills_in_order(sandbox, wallex):
    resp = wallex.post("/v1/account/orders", {
        "symbol": "BTCTMN", "type": "LIMIT", "side": "BUY", "price": "10010000000",
        "quantity": "0.1", "client_id": "w-1"})
    body = resp.json()
    assert resp.status_code == 200 and body["success"] is True
    order = body["result"]
    assert order["clientOrderId"] == "w-1" and order["status"] == "FILLED"
    assert order["active"] is False and order["executedQty"] == "0.1"
    assert order["executedSum"] == "1000550000"  # 0.05*10004000000 + 0.05*10007000000
    assert [f["price"] for f in order["fills"]] == ["10004000000", "10007000000"]
    assert order["fills"][0]["fee"] == "0.0002" and order["fills"][0]["feeAsset"] == "BTC"
    b = balances(sandbox, "wallex")
    assert b["TMN"]["total"] == D("10000000000") - D("1000550000")
    assert b["BTC"]["total"] == D("1.1") - D("0.1") * D("0.004")


def test_partial_status_cancel_and_open_orders(sandbox, wallex):
    placed = wallex.post("/v1/account/orders", {
        "symbol": "BTCTMN", "type": "LIMIT", "side": "BUY", "price": "10007000000",
        "quantity": "0.2", "client_id": "w-2"}).json()["result"]
    assert placed["status"] == "PARTIALLY_FILLED" and placed["executedQty"] == "0.1125"
    status = wallex.get("/v1/account/orders/w-2").json()["result"]
    assert status["active"] is True and status["origQty"] == "0.2"
    listed = wallex.get("/v1/account/openOrders", symbol="BTCTMN").json()["result"]["orders"]
    assert [o["clientOrderId"] for o in listed] == ["w-2"]
    cancel = wallex.delete("/v1/account/orders", {"clientOrderId": "w-2"}).json()
    assert cancel["success"] is True and cancel["result"]["status"] == "CANCELED"
    assert wallex.get("/v1/account/openOrders").json()["result"]["orders"] == []
    assert balances(sandbox, "wallex")["TMN"]["blocked"] == 0


def test_cancel_with_client_order_id_in_query(wallex):
    wallex.post("/v1/account/orders", {"symbol": "BTCTMN", "type": "LIMIT", "side": "SELL",
                                       "price": "10100000000", "quantity": "0.01",
                                       "client_id": "w-q"})
    resp = wallex.session.delete(wallex.base + "/v1/account/orders",
                                 params={"clientOrderId": "w-q"}, timeout=5)
    assert resp.json()["result"]["status"] == "CANCELED"


def test_generated_client_id_when_none_sent(wallex):
    order = wallex.post("/v1/account/orders", {"symbol": "USDTTMN", "type": "LIMIT",
                                               "side": "SELL", "price": "101000",
                                               "quantity": "10"}).json()["result"]
    assert order["clientOrderId"].startswith("LIMIT-")
    assert wallex.get(f"/v1/account/orders/{order['clientOrderId']}").json()["success"]


def test_refusals_and_duplicates(sandbox, wallex):
    base = {"symbol": "BTCTMN", "type": "LIMIT", "side": "BUY", "price": "9000000000"}
    small = wallex.post("/v1/account/orders", {**base, "quantity": "0.00001"})
    assert small.status_code == 400 and small.json()["code"] == "MinNotional"
    assert small.json()["success"] is False and small.json()["result"] == {}
    step = wallex.post("/v1/account/orders", {**base, "quantity": "0.0100001"})
    assert step.json()["code"] == "InvalidStepSize"
    tick = wallex.post("/v1/account/orders", {**base, "price": "9000000000.5",
                                              "quantity": "0.01"})
    assert tick.json()["code"] == "InvalidTickSize"
    broke = wallex.post("/v1/account/orders", {**base, "quantity": "5"})
    assert broke.json()["code"] == "InsufficientBalance"
    assert wallex.post("/v1/account/orders", {**base, "quantity": "0.01",
                                              "client_id": "same"}).json()["success"]
    dup = wallex.post("/v1/account/orders", {**base, "quantity": "0.01", "client_id": "same"})
    assert dup.status_code == 409 and dup.json()["code"] == "DuplicateClientOrderId"
    assert sandbox.state()["exchanges"]["wallex"]["counters"]["duplicate_client_ids"] == 1


def test_not_found_unauthorized_balances_trades_fee(sandbox, wallex):
    missing = wallex.get("/v1/account/orders/nope")
    assert missing.status_code == 404 and missing.json()["success"] is False
    anon = WallexClient(sandbox.base_url("wallex"), key="bad").get("/v1/account/balances")
    assert anon.status_code == 401 and anon.json()["success"] is False
    bal = wallex.get("/v1/account/balances").json()["result"]["balances"]
    assert bal["TMN"] == {"asset": "TMN", "faName": "تومان", "fiat": True,
                          "value": "10000000000", "locked": "0"}
    wallex.post("/v1/account/orders", {"symbol": "BTCTMN", "type": "MARKET", "side": "SELL",
                                       "quantity": "0.01", "client_id": "w-m"})
    (trade,) = wallex.get("/v1/account/trades", symbol="BTCTMN").json()["result"][
        "AccountLatestTrades"]
    assert trade["clientOrderId"] == "w-m" and trade["price"] == "9996000000"
    assert trade["feeAsset"] == "TMN" and D(trade["fee"]) == D("99960000") * D("0.004")
    fee = wallex.get("/v1/account/fee").json()["result"]["BTCTMN"]
    assert fee == {"makerFeeRate": "0.003", "takerFeeRate": "0.004", "recent_days_sum": "0"}
