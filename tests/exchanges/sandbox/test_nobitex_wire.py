"""Nobitex's wire format: book, options, place, status, cancel, lists, wallets."""

from decimal import Decimal as D

from .conftest import NobitexClient, balances


def test_orderbook_v3_shape_in_rial(nobitex):
    body = nobitex.get("/v3/orderbook/BTCIRT").json()
    assert body["status"] == "ok"
    assert isinstance(body["lastUpdate"], int)
    assert body["asks"][0] == ["100040000000", "0.05"]
    assert body["bids"][0] == ["99960000000", "0.05"]
    assert len(body["asks"]) >= 20 and len(body["bids"]) >= 20
    asks = [D(p) for p, _ in body["asks"]]
    bids = [D(p) for p, _ in body["bids"]]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)


def test_orderbook_all_and_unknown_symbol(nobitex):
    every = nobitex.get("/v3/orderbook/all").json()
    assert {"BTCIRT", "ETHIRT", "USDTIRT", "BTCUSDT", "ETHUSDT"} <= set(every)
    assert nobitex.get("/v3/orderbook/DOGEIRT").json()["status"] == "failed"


def test_options_precisions(nobitex):
    options = nobitex.get("/v2/options").json()["nobitex"]
    assert options["amountPrecisions"]["BTCIRT"] == "0.000001"
    assert options["pricePrecisions"]["BTCIRT"] == "10"
    assert options["pricePrecisions"]["BTCUSDT"] == "0.01"


def test_limit_buy_fills_across_levels_with_exact_balances(sandbox, nobitex):
    resp = nobitex.place(type="buy", execution="limit", amount="0.1", price="100100000000",
                         clientOrderId="n-1")
    order = resp.json()["order"]
    assert resp.status_code == 200 and order["status"] == "Done"
    # 0.05 at the best ask, 0.05 at the second level: no better than the limit
    assert order["matchedAmount"] == "0.1" and order["unmatchedAmount"] == "0"
    assert order["totalPrice"] == "10005500000"
    assert order["averagePrice"] == "100055000000"
    assert order["fee"] == "0.00025"
    assert order["clientOrderId"] == "n-1" and order["market"] == "BTC-RLS"
    b = balances(sandbox, "nobitex")
    assert b["rls"]["total"] == D("100000000000") - D("10005500000")
    assert b["btc"]["total"] == D("1") + D("0.1") - D("0.00025")
    assert b["rls"]["blocked"] == 0


def test_partial_fill_rests_then_cancel_releases_block(sandbox, nobitex):
    order = nobitex.place(type="buy", amount="0.2", price="100070000000",
                          clientOrderId="n-2").json()["order"]
    assert order["status"] == "Active" and order["partial"] is True
    assert order["matchedAmount"] == "0.1125"
    assert balances(sandbox, "nobitex")["rls"]["blocked"] == D("0.0875") * D("100070000000")

    status = nobitex.post("/market/orders/status", {"clientOrderId": "n-2"}).json()
    assert status["order"]["id"] == order["id"] and status["order"]["status"] == "Active"

    cancel = nobitex.post("/market/orders/update-status",
                          {"order": order["id"], "status": "canceled"}).json()
    assert cancel["status"] == "ok" and cancel["updatedStatus"] == "Canceled"
    assert cancel["order"]["matchedAmount"] == "0.1125"
    assert balances(sandbox, "nobitex")["rls"]["blocked"] == 0
    again = nobitex.post("/market/orders/update-status",
                         {"order": order["id"], "status": "canceled"}).json()
    assert again["status"] == "failed"


def test_resting_order_fills_when_book_moves_through_it(sandbox, nobitex):
    order = nobitex.place(type="buy", amount="0.01", price="99000000000").json()["order"]
    assert order["status"] == "Active" and order["matchedAmount"] == "0"
    sandbox.set_book("nobitex", "BTCIRT", asks=[["98990000000", "1"]],
                     bids=[["98980000000", "1"]])
    done = nobitex.post("/market/orders/status", {"id": order["id"]}).json()["order"]
    assert done["status"] == "Done"
    assert done["averagePrice"] == "99000000000"  # maker fills at its own price
    assert done["fee"] == "0.00001"  # maker fee 0.1%


def test_market_sell_walks_bids(sandbox, nobitex):
    order = nobitex.place(type="sell", execution="market", amount="0.06").json()["order"]
    assert order["status"] == "Done" and order["price"] == "market"
    total = D("0.05") * D("99960000000") + D("0.01") * D("99930000000")
    assert D(order["totalPrice"]) == total
    assert D(order["fee"]) == total * D("0.0025")
    assert balances(sandbox, "nobitex")["rls"]["total"] == D("100000000000") + total * D("0.9975")


def test_refusals_use_nobitex_codes(nobitex):
    small = nobitex.place(type="buy", amount="0.00001", price="100000000000").json()
    assert small == {"status": "failed", "code": "SmallOrder",
                     "message": small["message"], "clientOrderId": None}
    too_much = nobitex.place(type="buy", amount="5", price="100000000000").json()
    assert too_much["code"] == "OverValueOrder"
    far = nobitex.place(type="buy", amount="0.01", price="200000000000").json()
    assert far["code"] == "BadPrice"
    pair = nobitex.place(srcCurrency="doge", type="buy", amount="1", price="1000").json()
    assert pair["code"] == "InvalidMarketPair"


def test_overprecise_amount_is_rounded_down_as_documented(nobitex):
    order = nobitex.place(type="buy", amount="0.0100009", price="99000000005").json()["order"]
    assert order["amount"] == "0.01" and order["price"] == "99000000000"


def test_duplicate_client_order_id_among_open_orders(sandbox, nobitex):
    first = nobitex.place(type="buy", amount="0.01", price="99000000000", clientOrderId="dup")
    assert first.json()["status"] == "ok"
    second = nobitex.place(type="buy", amount="0.01", price="99000000000",
                           clientOrderId="dup").json()
    assert second["code"] == "DuplicateClientOrderId"
    assert sandbox.state()["exchanges"]["nobitex"]["counters"]["duplicate_client_ids"] == 1
    nobitex.post("/market/orders/update-status", {"clientOrderId": "dup", "status": "canceled"})
    third = nobitex.place(type="buy", amount="0.01", price="99000000000", clientOrderId="dup")
    assert third.json()["status"] == "ok"  # unique among open orders only


def test_not_found_is_404_with_code(nobitex):
    resp = nobitex.post("/market/orders/status", {"id": 42})
    assert resp.status_code == 404 and resp.json()["code"] == "NotFound"
    by_client = nobitex.post("/market/orders/status", {"clientOrderId": "nope"})
    assert by_client.status_code == 404
    neither = nobitex.post("/market/orders/status", {})
    assert neither.json()["code"] == "NullIdAndClientOrderId"


def test_open_orders_list_and_trades_list(nobitex):
    resting = nobitex.place(type="buy", amount="0.01", price="99000000000").json()["order"]
    filled = nobitex.place(type="buy", amount="0.01", price="100040000000").json()["order"]
    listed = nobitex.get("/market/orders/list", status="open").json()
    assert listed["status"] == "ok"
    assert [o["id"] for o in listed["orders"]] == [resting["id"]]
    every = nobitex.get("/market/orders/list", status="all", details=2).json()["orders"]
    assert {o["id"] for o in every} == {resting["id"], filled["id"]}
    trades = nobitex.get("/market/trades/list", srcCurrency="btc", dstCurrency="rls").json()
    assert trades["status"] == "ok" and trades["hasNext"] is False
    (trade,) = trades["trades"]
    assert trade["orderId"] == filled["id"] and trade["type"] == "buy"
    assert trade["price"] == "100040000000" and trade["amount"] == "0.01"
    assert trade["total"] == "1000400000" and trade["fee"] == "0.000025"
    assert trade["market"] == "BTC-RLS"


def test_wallets_list(nobitex):
    wallets = {w["currency"]: w for w in nobitex.get("/users/wallets/list").json()["wallets"]}
    assert wallets["rls"]["balance"] == "100000000000"
    assert wallets["btc"] == {"id": wallets["btc"]["id"], "currency": "btc", "balance": "1",
                              "blockedBalance": "0", "activeBalance": "1"}


def test_unknown_token_is_401(sandbox):
    client = NobitexClient(sandbox.base_url("nobitex"), token="wrong")
    resp = client.get("/users/wallets/list")
    assert resp.status_code == 401 and resp.json()["status"] == "failed"


def test_market_order_with_price_fills_only_within_one_percent(sandbox, nobitex):
    sandbox.set_book("nobitex", "BTCIRT", asks=[["100000000000", "0.01"],
                                                ["100900000000", "0.01"],
                                                ["101100000000", "1"]],
                     bids=[["99000000000", "1"]])
    order = nobitex.place(type="buy", execution="market", amount="0.05",
                          price="100000000000").json()["order"]
    # 101100000000 is more than 1% above the given price: the rest is cancelled
    assert order["matchedAmount"] == "0.02" and order["status"] == "Canceled"
    assert balances(sandbox, "nobitex")["rls"]["blocked"] == 0
