"""Invex's wire format: signed requests, uuids, asynchronous cancel, search paging."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from exchanges.sandbox.signing import new_key_pair

from .conftest import InvexClient, balances

ORDER = {"symbol": "BTC_IRR", "side": "BUYER", "type": "LIMIT", "quantity": "0.1",
         "price": "100100000000"}


def test_market_depth_and_rules(invex):
    body = invex.public("/market-depth", symbol="BTC_IRR", depth="5").json()
    assert body["ask_orders"][0] == {"depth": 1, "price": "100040000000", "quantity": "0.05"}
    assert len(body["ask_orders"]) == 5 and len(body["bid_orders"]) == 5
    assert invex.public("/market-depth", symbol="BTC_IRR", depth="7").status_code == 422
    rules = {r["symbol"]: r for r in invex.public("/markets").json()["rules"]}
    assert rules["BTC_IRR"]["tick_size"] == "10"
    assert rules["BTC_IRR"]["amount_step_size"] == "0.000001"
    assert rules["BTC_IRR"]["minimum_limit_order_value"] == "3000000"


def test_signed_order_fills_and_reports_trades(sandbox, invex):
    resp = invex.post("/orders", {**ORDER, "client_order_id": "i-1"})
    assert resp.status_code == 200
    order_id = resp.json()["order_id"]
    order = invex.get("/order", order_id=order_id).json()
    assert order["status"] == "FULL_FILLED" and order["deal_quantity"] == "0.1"
    assert order["side"] == "BUYER" and order["client_order_id"] == "i-1"
    assert [(t["type"], t["price"], t["quantity"], t["fee"]) for t in order["trades"]] == [
        ("TAKER", "100040000000", "0.05", "0.00015"),
        ("TAKER", "100070000000", "0.05", "0.00015"),
    ]
    by_client = invex.get("/order", client_order_id="i-1").json()
    assert by_client["order_id"] == order_id
    b = balances(sandbox, "invex")
    assert b["IRR"]["total"] == D("100000000000") - D("10005500000")
    assert b["BTC"]["total"] == D("1.1") - D("0.0003")


def test_wrong_key_and_expired_signature_are_refused(sandbox, invex):
    other_private, _ = new_key_pair()
    wrong = invex.post("/orders", ORDER, private_key=other_private)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["type"] == "value_error.signature"
    past = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S")
    expired = invex.post("/orders", ORDER, expires=past)
    assert expired.status_code == 422
    assert expired.json()["detail"][0]["loc"] == ["body", "expire_at"]
    tampered = invex.signed({"currency": "IRR"})
    tampered["currency"] = "BTC"
    resp = invex.session.get(invex.base + "/accounts", params=tampered, timeout=5)
    assert resp.status_code == 422
    unsigned = invex.session.get(invex.base + "/accounts", params={"currency": "IRR"})
    assert unsigned.json()["detail"][0]["type"] == "value_error.missing"
    assert sandbox.state()["exchanges"]["invex"]["counters"]["orders_placed"] == 0


def test_unknown_api_key_is_401(sandbox, invex_keys):
    client = InvexClient(sandbox.base_url("invex"), invex_keys[0], key="nobody")
    resp = client.get("/accounts", currency="IRR")
    assert resp.status_code == 401 and resp.json() == {"detail": "Invalid API key"}


def test_cancel_is_asynchronous(sandbox, invex):
    order_id = invex.post("/orders", {**ORDER, "price": "99000000000",
                                      "client_order_id": "i-2"}).json()["order_id"]
    cancel = invex.delete("/orders", order_id=order_id)
    assert cancel.status_code == 200 and cancel.json()["cancel_order_id"]
    right_after = invex.get("/order", order_id=order_id).json()
    assert right_after["status"] == "NOT_FILLED"
    assert right_after["cancel_order_id"] == cancel.json()["cancel_order_id"]
    time.sleep(0.35)
    assert invex.get("/order", order_id=order_id).json()["status"] == "CANCELED_BY_USER"
    assert balances(sandbox, "invex")["IRR"]["blocked"] == 0
    again = invex.delete("/orders", client_order_id="i-2")
    assert again.status_code == 422


def test_search_orders_filters_and_pages(invex):
    ids = [invex.post("/orders", {**ORDER, "price": str(99000000000 - 10 * i),
                                  "quantity": "0.01"}).json()["order_id"] for i in range(5)]
    page = invex.get("/orders", status="NOT_FILLED", symbol="BTC_IRR", page="1",
                     page_size="2").json()
    assert page["total_count"] == 5 and len(page["orders"]) == 2
    assert page["orders"][0]["order_id"] == ids[-1]  # newest first
    assert "trades" not in page["orders"][0]
    rest = invex.get("/orders", status="NOT_FILLED", page="3", page_size="2").json()
    assert [o["order_id"] for o in rest["orders"]] == [ids[0]]
    assert invex.get("/orders", page_size="101").status_code == 422


def test_refusals_and_duplicate_client_id(invex):
    small = invex.post("/orders", {**ORDER, "quantity": "0.00001"})
    assert small.status_code == 422
    assert small.json()["detail"][0]["type"] == "value_error.minimum_order_value"
    step = invex.post("/orders", {**ORDER, "quantity": "0.0000001"}).json()
    assert step["detail"][0]["type"] == "value_error.amount_step_size"
    broke = invex.post("/orders", {**ORDER, "quantity": "5"}).json()
    assert broke["detail"][0]["type"] == "value_error.insufficient_balance"
    ok = invex.post("/orders", {**ORDER, "price": "99000000000", "quantity": "0.01",
                                "client_order_id": "same"})
    assert ok.status_code == 200
    dup = invex.post("/orders", {**ORDER, "price": "99000000000", "quantity": "0.01",
                                 "client_order_id": "same"})
    assert dup.json()["detail"][0]["type"] == "value_error.duplicate_client_order_id"
    missing = invex.get("/order", order_id="00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json() == {"detail": "Order not found"}


def test_accounts_balance(invex):
    assert invex.get("/accounts", currency="IRR").json() == {
        "currency": "IRR", "available": "100000000000", "blocked": "0",
        "total": "100000000000"}
    invex.post("/orders", {"symbol": "BTC_IRR", "side": "SELLER", "type": "LIMIT",
                           "quantity": "0.25", "price": "101000000000"})
    assert invex.get("/accounts", currency="BTC").json() == {
        "currency": "BTC", "available": "0.75", "blocked": "0.25", "total": "1"}


def test_market_order_remainder_is_canceled_by_system(sandbox, invex):
    sandbox.set_book("invex", "BTC_IRR", asks=[["100000000000", "0.01"]],
                     bids=[["99000000000", "0.01"]])
    order_id = invex.post("/orders", {"symbol": "BTC_IRR", "side": "BUYER", "type": "MARKET",
                                      "quantity": "0.02"}).json()["order_id"]
    order = invex.get("/order", order_id=order_id).json()
    assert order["status"] == "CANCELED_BY_SYSTEM" and order["deal_quantity"] == "0.01"
    assert balances(sandbox, "invex")["IRR"]["blocked"] == 0
