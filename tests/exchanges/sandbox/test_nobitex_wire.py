"""Nobitex as ``nobitex/docs-api`` documents it (docusaurus/docs/market-trade.md unless
said otherwise): book, options, place, status, cancel, lists, trades, wallets."""

import time
from decimal import Decimal as D

import requests

from .conftest import NOBITEX_TOKEN, NobitexClient, balances


def test_orderbook_v3_shape_in_rial(nobitex):
    """market-data.md "اردربوک": [price, amount] strings, lastUpdate in ms."""
    body = nobitex.get("/v3/orderbook/BTCIRT").json()
    assert body["status"] == "ok"
    assert isinstance(body["lastUpdate"], int)
    assert body["asks"][0] == ["100040000000", "0.05"]
    assert body["bids"][0] == ["99960000000", "0.05"]
    asks = [D(p) for p, _ in body["asks"]]
    bids = [D(p) for p, _ in body["bids"]]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)


def test_orderbook_all_has_no_last_trade_price_and_post_is_refused(nobitex):
    """market-data.md: the `all` example has no lastTradePrice; "GET only, POST is not
    supported"."""
    every = nobitex.get("/v3/orderbook/all").json()
    assert {"BTCIRT", "ETHIRT", "USDTIRT", "BTCUSDT", "ETHUSDT"} <= set(every)
    assert "lastTradePrice" not in every["BTCIRT"] and every["BTCIRT"]["asks"]
    assert nobitex.post("/v3/orderbook/BTCIRT", {}).status_code == 405
    assert nobitex.get("/v3/orderbook/DOGEIRT").json()["status"] == "failed"


def test_options_give_min_orders_and_precisions(nobitex):
    """other.md "تنظیمات سیستم": nobitex.minOrders, amountPrecisions, pricePrecisions."""
    options = nobitex.get("/v2/options").json()
    assert options["status"] == "ok" and "features" in options and "coins" in options
    nob = options["nobitex"]
    assert nob["minOrders"]["rls"] == "3000000" and nob["minOrders"]["usdt"] == "11"
    assert nob["amountPrecisions"]["BTCIRT"] == "0.000001"
    assert nob["pricePrecisions"]["BTCIRT"] == "10"
    assert nob["pricePrecisions"]["BTCUSDT"] == "0.01"


def test_place_answer_has_total_price_and_matched_amount_but_no_average(sandbox, nobitex):
    """"ثبت سفارش جدید": the answer carries totalPrice and matchedAmount; averagePrice is
    not in it (average = totalPrice / matchedAmount)."""
    resp = nobitex.place(type="buy", execution="limit", amount="0.1", price="100100000000",
                         clientOrderId="n-1")
    order = resp.json()["order"]
    assert resp.status_code == 200 and order["status"] == "Done"
    assert "averagePrice" not in order
    assert order["matchedAmount"] == "0.1" and order["unmatchedAmount"] == "0"
    assert order["totalPrice"] == "10005500000"  # 0.05 at each of two levels
    assert D(order["totalPrice"]) / D(order["matchedAmount"]) == D("100055000000")
    assert order["fee"] == "0.00025"  # taken from what is received: btc on a buy
    assert order["clientOrderId"] == "n-1"
    b = balances(sandbox, "nobitex")
    assert b["rls"]["total"] == D("100000000000") - D("10005500000")
    assert b["btc"]["total"] == D("1") + D("0.1") - D("0.00025")


def test_identical_order_within_ten_seconds_is_duplicate_order_unless_pro(sandbox, nobitex):
    """Note "سفارش تکراری": identical orders within 10 s get DuplicateOrder ("غیرفعال در
    حالت Pro"; _general_notes.md "حالت متداول و Pro": `pro` = `yes`)."""
    body = {"type": "buy", "srcCurrency": "btc", "dstCurrency": "rls", "amount": "0.01",
            "price": "99000000000"}
    first = nobitex.post("/market/orders/add", {**body, "clientOrderId": "d-1"}).json()
    second = nobitex.post("/market/orders/add", {**body, "clientOrderId": "d-2"}).json()
    assert first["status"] == "ok"
    assert second["status"] == "failed" and second["code"] == "DuplicateOrder"
    pro = nobitex.post("/market/orders/add", {**body, "clientOrderId": "d-3", "pro": "yes"})
    assert pro.json()["status"] == "ok"
    other = nobitex.post("/market/orders/add", {**body, "amount": "0.02"}).json()
    assert other["status"] == "ok"  # not identical
    assert sandbox.state()["exchanges"]["nobitex"]["counters"]["orders_placed"] == 3


def test_insufficient_balance_is_over_value_order(nobitex):
    """Error table: OverValueOrder when amount (sell) or amount×price (buy) exceeds the
    wallet (InsufficientBalance is a withdrawal code)."""
    resp = nobitex.place(type="buy", amount="5", price="100000000000", clientOrderId="o-1")
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "failed"
    assert body["code"] == "OverValueOrder" and body["clientOrderId"] == "o-1"


def test_refusals_small_order_bad_price_market_pair_and_long_client_id(nobitex):
    """Error table: SmallOrder (below 3,000,000 rial), BadPrice (beyond 30%),
    InvalidMarketPair; clientOrderId is at most 32 characters."""
    assert nobitex.place(type="buy", amount="0.00001", price="100000000000").json()[
        "code"] == "SmallOrder"
    assert nobitex.place(type="buy", amount="0.01", price="140000000000").json()[
        "code"] == "BadPrice"
    assert nobitex.place(type="buy", amount="1", price="1", srcCurrency="doge").json()[
        "code"] == "InvalidMarketPair"
    assert nobitex.place(type="buy", amount="0.01", price="99000000000",
                         clientOrderId="x" * 33).json()["status"] == "failed"


def test_over_precise_amount_and_price_are_rounded(nobitex):
    """Note "دقت مقادیر پولی": extra digits are rounded down (amount) and half-even
    (price)."""
    order = nobitex.place(type="buy", amount="0.0123456789", price="99000000005").json()[
        "order"]
    assert order["amount"] == "0.012345" and order["price"] == "99000000000"


def test_client_order_id_unique_among_open_orders_only(nobitex):
    """clientOrderId "یکتا … در میان سفارش های open/active/inactive" and
    DuplicateClientOrderId."""
    assert nobitex.place(type="buy", amount="0.01", price="99000000000",
                         clientOrderId="c-1").json()["status"] == "ok"
    dup = nobitex.place(type="buy", amount="0.02", price="99000000000", clientOrderId="c-1")
    assert dup.json()["code"] == "DuplicateClientOrderId"
    nobitex.post("/market/orders/update-status", {"clientOrderId": "c-1", "status": "canceled"})
    again = nobitex.place(type="buy", amount="0.02", price="99000000000", clientOrderId="c-1")
    assert again.json()["status"] == "ok"  # the first is no longer open


def test_client_order_id_lookups_find_open_orders_only(nobitex):
    """"مشاهده وضعیت سفارش" note 3: clientOrderId is searched among open orders only; a
    filled order is still found by id."""
    done = nobitex.place(type="buy", amount="0.01", price="100100000000",
                         clientOrderId="f-1").json()["order"]
    assert done["status"] == "Done"
    by_client = nobitex.post("/market/orders/status", {"clientOrderId": "f-1"}).json()
    assert by_client["status"] == "failed"  # the default not-found answer (a variant)
    by_id = nobitex.post("/market/orders/status", {"id": done["id"]}).json()
    assert by_id["status"] == "ok" and by_id["order"]["clientOrderId"] == "f-1"
    cancel = nobitex.post("/market/orders/update-status",
                          {"clientOrderId": "f-1", "status": "canceled"}).json()
    assert cancel["status"] == "failed"


def test_status_id_wins_and_neither_is_null_id_and_client_order_id(nobitex):
    """Notes 1 and 2: at least one of id and clientOrderId; id has priority;
    NullIdAndClientOrderId otherwise (HTTP 200, openapi "موفق یا ناموفق")."""
    a = nobitex.place(type="buy", amount="0.01", price="99000000000", clientOrderId="a").json()
    b = nobitex.place(type="buy", amount="0.01", price="98000000000", clientOrderId="b").json()
    both = nobitex.post("/market/orders/status",
                        {"id": a["order"]["id"], "clientOrderId": "b"}).json()
    assert both["order"]["clientOrderId"] == "a" and b["status"] == "ok"
    neither = nobitex.post("/market/orders/status", {})
    assert neither.status_code == 200 and neither.json()["code"] == "NullIdAndClientOrderId"


def test_partial_fill_stays_active_then_cancel_answer_carries_the_order(sandbox, nobitex):
    """Statuses: a partial fill stays Active with matchedAmount; "تغییر وضعیت سفارش":
    `order` + `status=canceled` → updatedStatus Canceled and the order (with
    averagePrice, as in the 2025 example)."""
    order = nobitex.place(type="buy", amount="0.2", price="100070000000",
                          clientOrderId="n-2").json()["order"]
    assert order["status"] == "Active" and order["partial"] is True
    assert order["matchedAmount"] == "0.1125"
    assert balances(sandbox, "nobitex")["rls"]["blocked"] == D("0.0875") * D("100070000000")
    cancel = nobitex.post("/market/orders/update-status",
                          {"order": order["id"], "status": "canceled"}).json()
    assert cancel["status"] == "ok" and cancel["updatedStatus"] == "Canceled"
    assert cancel["order"]["status"] == "Canceled"
    assert cancel["order"]["matchedAmount"] == "0.1125"
    assert D(cancel["order"]["averagePrice"]) > 0
    assert balances(sandbox, "nobitex")["rls"]["blocked"] == 0


def test_cancel_not_applied_is_200_failed_with_updated_status_and_order(nobitex):
    """apidocs.nobitex.ir "لغو سفارش": a transition that is not applied answers HTTP 200,
    status failed, with updatedStatus and order."""
    done = nobitex.place(type="buy", amount="0.01", price="100100000000").json()["order"]
    resp = nobitex.post("/market/orders/update-status",
                        {"order": done["id"], "status": "canceled"})
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "failed"
    assert body["updatedStatus"] == "Done" and body["order"]["id"] == done["id"]
    # the parameter is `order`, not `id`
    wrong = nobitex.post("/market/orders/update-status", {"id": done["id"], "status": "canceled"})
    assert wrong.json()["code"] == "NullIdAndClientOrderId"


def test_resting_order_fills_when_book_moves_through_it(sandbox, nobitex):
    order = nobitex.place(type="buy", amount="0.01", price="99000000000").json()["order"]
    assert order["status"] == "Active" and order["matchedAmount"] == "0"
    sandbox.set_book("nobitex", "BTCIRT", asks=[["98990000000", "1"]],
                     bids=[["98980000000", "1"]])
    done = nobitex.post("/market/orders/status", {"id": order["id"]}).json()["order"]
    assert done["status"] == "Done"
    assert done["totalPrice"] == "990000000"  # maker fills at its own price
    assert done["fee"] == "0.00001"  # maker fee 0.1%


def test_market_order_fills_within_one_percent_of_its_price(sandbox, nobitex):
    """Note "تعیین محدوده مورد انتظار قیمت": a market order fills only within 1% of price;
    the rest is cancelled by the system."""
    sandbox.set_book("nobitex", "BTCIRT", asks=[["100000000000", "0.01"],
                                                 ["102000000000", "1"]],
                     bids=[["99000000000", "1"]])
    order = nobitex.place(type="buy", execution="market", amount="0.05",
                          price="100000000000").json()["order"]
    assert order["price"] == "market" and order["execution"] == "Market"
    assert order["matchedAmount"] == "0.01" and order["status"] == "Canceled"


def test_orders_list_rows_are_minimal_without_details_2(nobitex):
    """"فهرست سفارش‌های کاربر": without details=2 a row has type, execution, tradeType,
    srcCurrency, dstCurrency, price, amount, matchedAmount only (docs-api issue #233)."""
    nobitex.place(type="buy", amount="0.01", price="99000000000", clientOrderId="l-1")
    (row,) = nobitex.get("/market/orders/list").json()["orders"]
    assert set(row) == {"type", "execution", "tradeType", "srcCurrency", "dstCurrency",
                        "price", "amount", "matchedAmount"}
    assert row["srcCurrency"] == "Bitcoin" and row["dstCurrency"] == "\ufdfc"


def test_orders_list_with_details_2_adds_id_status_fee_created_at_average(nobitex):
    """details=2 adds id, status, fee, created_at, averagePrice; no clientOrderId (its
    table does not list it: variant nobitex-details-client-id) and no hasNext."""
    placed = nobitex.place(type="buy", amount="0.01", price="99000000000",
                           clientOrderId="l-2").json()["order"]
    body = nobitex.get("/market/orders/list", details=2).json()
    (row,) = body["orders"]
    assert "hasNext" not in body
    assert row["id"] == placed["id"] and row["status"] == "Active"
    assert {"fee", "created_at", "averagePrice"} <= set(row)
    assert "clientOrderId" not in row


def test_orders_list_filters_sorting_and_pagination(nobitex):
    """status open/all/done/close; default order newest first; type=buy by price
    descending; fromId lists ids above it; page/pageSize (general notes: 1–100)."""
    ids = []
    for i, price in enumerate(("97000000000", "99000000000", "98000000000")):
        ids.append(nobitex.place(type="buy", amount="0.01", price=price,
                                 clientOrderId=f"p-{i}").json()["order"]["id"])
    filled = nobitex.place(type="buy", amount="0.01", price="100100000000").json()["order"]
    rows = nobitex.get("/market/orders/list", details=2).json()["orders"]
    assert [r["id"] for r in rows] == ids[::-1]  # open only, newest first
    by_price = nobitex.get("/market/orders/list", details=2, type="buy").json()["orders"]
    assert [r["price"] for r in by_price] == ["99000000000", "98000000000", "97000000000"]
    done = nobitex.get("/market/orders/list", details=2, status="done").json()["orders"]
    assert [r["id"] for r in done] == [filled["id"]]
    every = nobitex.get("/market/orders/list", details=2, status="all", order="id").json()
    assert [r["id"] for r in every["orders"]] == sorted(ids + [filled["id"]])
    after = nobitex.get("/market/orders/list", details=2, status="all",
                        fromId=ids[1]).json()["orders"]
    assert [r["id"] for r in after] == [filled["id"], ids[2]]
    page2 = nobitex.get("/market/orders/list", details=2, status="all", order="id",
                        page=2, pageSize=2).json()["orders"]
    assert [r["id"] for r in page2] == [ids[2], filled["id"]]
    big = nobitex.get("/market/orders/list", status="all", pageSize=5000).json()
    assert len(big["orders"]) == 4  # clamped to the page-size cap, not refused
    assert nobitex.get("/market/orders/list", page=101).status_code == 400


def test_trades_list_in_its_documented_shape(nobitex):
    """"فهرست معاملات کاربر": id, orderId, srcCurrency, dstCurrency, market, timestamp,
    type, price, amount, total, fee; hasNext; fromId ≥; both currencies or neither."""
    order = nobitex.place(type="buy", amount="0.1", price="100100000000").json()["order"]
    body = nobitex.get("/market/trades/list", srcCurrency="btc", dstCurrency="rls").json()
    assert body["status"] == "ok" and body["hasNext"] is False
    assert len(body["trades"]) == 2 and {t["orderId"] for t in body["trades"]} == {order["id"]}
    trade = body["trades"][0]
    assert set(trade) == {"id", "orderId", "srcCurrency", "dstCurrency", "market",
                          "timestamp", "type", "price", "amount", "total", "fee"}
    assert trade["market"] == "BTC-RLS" and trade["srcCurrency"] == "Bitcoin"
    assert D(trade["total"]) == D(trade["price"]) * D(trade["amount"])
    newest = max(t["id"] for t in body["trades"])
    assert [t["id"] for t in nobitex.get("/market/trades/list",
                                         fromId=newest).json()["trades"]] == [newest]
    assert nobitex.get("/market/trades/list", srcCurrency="btc").status_code == 400
    paged = nobitex.get("/market/trades/list", pageSize=1).json()
    assert len(paged["trades"]) == 1 and paged["hasNext"] is True


def test_wallets_list_and_selected_wallets(sandbox, nobitex):
    """user-data.md "لیست کیف پول ها" (balance, blockedBalance, activeBalance, …) and
    GET /v2/wallets?currencies=."""
    nobitex.place(type="buy", amount="0.01", price="99000000000")
    wallets = {w["currency"]: w for w in nobitex.get("/users/wallets/list").json()["wallets"]}
    rls = wallets["rls"]
    assert rls["balance"] == "100000000000" and rls["blockedBalance"] == "990000000"
    assert rls["activeBalance"] == "99010000000" and isinstance(rls["rialBalance"], int)
    picked = nobitex.get("/v2/wallets", currencies="rls,btc").json()["wallets"]
    assert set(picked) == {"RLS", "BTC"} and picked["RLS"]["blocked"] == "990000000"
    one = nobitex.post("/users/wallets/balance", {"currency": "btc"}).json()
    assert one == {"balance": "1", "status": "ok"}


def test_profile_gives_the_fee_rate(nobitex):
    """user-data.md "پروفایل": options.fee (percent)."""
    profile = nobitex.get("/users/profile").json()["profile"]
    assert profile["options"]["fee"] == "0.25"


def test_bad_token_is_401_and_the_user_agent_is_recorded(sandbox, nobitex):
    """General notes: 401 Unauthorized; _intro.md recommends User-Agent TraderBot/…"""
    bad = NobitexClient(sandbox.base_url("nobitex"), token="wrong")
    resp = bad.get("/users/wallets/list")
    assert resp.status_code == 401 and resp.json()["status"] == "failed"
    nobitex.get("/users/wallets/list")
    assert "TraderBot/arbsite-tests" in sandbox.state()["exchanges"]["nobitex"]["user_agents"]


def test_more_than_100_bad_tokens_block_the_ip(sandbox):
    """_general_notes.md "محدودیت احراز ناموفق": over 100 wrong-token requests from one IP
    in 30 minutes block that IP for the rest of the window."""
    session = requests.Session()
    url = sandbox.base_url("nobitex") + "/users/wallets/list"
    codes = [session.get(url, headers={"Authorization": "Token wrong"}, timeout=5).status_code
             for _ in range(102)]
    assert set(codes[:101]) == {401} and codes[101] == 403
    ok = session.get(url, headers={"Authorization": f"Token {NOBITEX_TOKEN}"}, timeout=5)
    assert ok.status_code == 403  # the IP, not the token


def test_trades_older_than_three_days_are_not_listed(sandbox, nobitex):
    """"فهرست معاملات ۳ روز اخیر"."""
    nobitex.place(type="buy", amount="0.01", price="100100000000")
    engine = sandbox.world.engines["nobitex"]
    with engine.lock:
        for order in engine.orders.values():
            for fill in order.fills:
                fill.at = time.time() - 4 * 86400
    assert nobitex.get("/market/trades/list").json()["trades"] == []
