"""Invex as rabbitix/invex-trading-api-docs (README, swagger/swagger.yaml) and the official
examples (invex-cryptocurrency-exchange/Invex-API-docs examples/create_order.py,
market_rules.py) describe it."""

import json
import time
from datetime import UTC, datetime, timedelta

import requests

from exchanges.sandbox.signing import TEHRAN, expire_at, new_key_pair, sign

from .conftest import INVEX_KEY, InvexClient, balances


def test_market_depth_shape_and_enum_checks(invex):
    """swagger /trading/v1/market-depth: symbol and depth (5, 20, 50) required;
    {ask_orders, bid_orders} of {depth, price, quantity}."""
    body = invex.public("/market-depth", symbol="BTC_IRR", depth="5").json()
    assert len(body["ask_orders"]) == 5
    assert body["ask_orders"][0] == {"depth": 1, "price": "100040000000", "quantity": "0.05"}
    bad = invex.public("/market-depth", symbol="BTC_IRR", depth="7")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "depth"]


def test_markets_rules_as_the_readme_writes_them(invex):
    """README "قوانین بازار" and swagger TradingAPISearchMarketConfigsOutputDTOV1:
    {"rules": [{symbol, tick_size, amount_step_size, minimum_…, maximum_…}]}, public."""
    rules = {r["symbol"]: r for r in invex.public("/markets").json()["rules"]}
    usdt = rules["USDT_IRR"]
    assert usdt["tick_size"] == "10.000000000000000000"
    assert usdt["amount_step_size"] == "0.010000000000000000"
    assert usdt["minimum_limit_order_value"] == "3000000.000000000000000000"


def test_official_example_signs_json_dumps_with_default_separators(invex, invex_keys):
    """examples/create_order.py: params in insertion order with expire_at, signed as
    json.dumps(params), signature added, body posted as json.dumps(params)."""
    resp = invex.place(quantity="0.01", price="100100000000", client_order_id="inv-1")
    assert resp.status_code == 200, resp.text
    order_id = resp.json()["order_id"]
    order = invex.get("/order", order_id=order_id).json()
    assert order["status"] == "FULL_FILLED" and order["client_order_id"] == "inv-1"
    # the compact, sorted message (the old sandbox's) is refused by default
    compact = InvexClient(invex.base, invex_keys[0], fmt="compact")
    refused = compact.get("/accounts", currency="IRR")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "value_error.signature"


def test_expire_at_is_read_as_tehran_local_time(invex, invex_keys):
    """The examples write expire_at with datetime.now() (local, in Iran): a naive UTC
    time is 3.5 h in the past and refused; an explicit offset means what it says."""
    utc_naive = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%d %H:%M:%S")
    params = {"currency": "IRR", "expire_at": utc_naive}
    params["signature"] = sign(params, invex_keys[0])
    resp = invex.session.get(invex.base + "/accounts", params=params, timeout=5)
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "value_error.expired"
    aware = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    params = {"currency": "IRR", "expire_at": aware}
    params["signature"] = sign(params, invex_keys[0])
    assert invex.session.get(invex.base + "/accounts", params=params,
                             timeout=5).status_code == 200
    tehran = datetime.now(TEHRAN).strftime("%Y-%m-%d %H:%M")
    assert expire_at(60)[:16] >= tehran


def test_signed_requests_are_refused_when_expired_too_far_or_replayed(invex, invex_keys):
    """README: every endpoint with input carries expire_at and signature; README_EN:
    "detect and block attempts to reuse previously sent messages"."""
    past = expire_at(-5)
    assert invex.session.get(invex.base + "/accounts", params=invex.signed(
        {"currency": "IRR"}, expires=past), timeout=5).status_code == 422
    far = expire_at(4000)
    assert invex.session.get(invex.base + "/accounts", params=invex.signed(
        {"currency": "IRR"}, expires=far), timeout=5).status_code == 422
    missing = invex.session.get(invex.base + "/accounts", params={"currency": "IRR"}, timeout=5)
    assert {e["loc"][1] for e in missing.json()["detail"]} == {"expire_at", "signature"}
    params = invex.signed({"currency": "IRR"})
    first = invex.session.get(invex.base + "/accounts", params=params, timeout=5)
    again = invex.session.get(invex.base + "/accounts", params=params, timeout=5)
    assert first.status_code == 200
    assert again.status_code == 422 and again.json()["detail"][0]["type"] == "value_error.replay"
    wrong_key = invex.signed({"currency": "IRR"}, private_key=new_key_pair()[0])
    assert invex.session.get(invex.base + "/accounts", params=wrong_key,
                             timeout=5).status_code == 422


def test_missing_api_key_is_403_unknown_key_401(invex):
    """swagger securitySchemes APIKeyHeader X-API-Key-Invex (FastAPI: 403 "Not
    authenticated" when absent)."""
    params = invex.signed({"currency": "IRR"})
    none = requests.get(invex.base + "/accounts", params=params, timeout=5)
    assert none.status_code == 403 and none.json() == {"detail": "Not authenticated"}
    other = requests.get(invex.base + "/accounts", params=invex.signed({"currency": "IRR"}),
                         headers={"X-API-Key-Invex": "nope"}, timeout=5)
    assert other.status_code == 401


def test_create_order_fields_as_the_readme_names_them(invex):
    """README "سرویس معامله": quantity, price, symbol, side (BUYER|SELLER), type
    (LIMIT|MARKET), client_order_id; the swagger names are the other variant."""
    swagger = invex.post("/orders", {"quantity": "0.01", "price": "99000000000",
                                     "market_type": "BTC_IRR", "order_side_type": "BUYER",
                                     "order_class_type": "LIMIT"})
    assert swagger.status_code == 422
    assert {e["loc"][1] for e in swagger.json()["detail"]} == {"symbol", "side", "type"}
    bad_side = invex.place(quantity="0.01", price="99000000000", side="BUY")
    assert bad_side.status_code == 422 and bad_side.json()["detail"][0]["type"] == (
        "type_error.enum")


def test_order_lookup_and_trades(invex):
    """GET /trading/v1/order by order_id or client_order_id: status, deal_quantity,
    trades[] of {type MAKER|TAKER, quantity, fee, price, created_at}."""
    invex.place(quantity="0.1", price="100100000000", client_order_id="inv-2")
    order = invex.get("/order", client_order_id="inv-2").json()
    assert order["status"] == "FULL_FILLED" and order["deal_quantity"] == "0.1"
    assert order["symbol"] == "BTC_IRR" and order["time_in_force"] == "GTC"
    assert [t["type"] for t in order["trades"]] == ["TAKER", "TAKER"]
    assert order["created_at"].endswith("+03:30")  # times in the server's (Tehran) zone
    assert invex.get("/order", client_order_id="never").status_code == 404
    assert invex.get("/order", order_id="not-a-uuid").status_code == 422


def test_cancel_is_asynchronous(sandbox, invex):
    """DELETE /trading/v1/orders → {"cancel_order_id"} ("Create Cancel Order Command"):
    the order stays NOT_FILLED with cancel_order_id set, then CANCELED_BY_USER."""
    order_id = invex.place(quantity="0.01", price="99000000000").json()["order_id"]
    resp = invex.delete("/orders", order_id=order_id)
    cancel_id = resp.json()["cancel_order_id"]
    pending = invex.get("/order", order_id=order_id).json()
    assert pending["status"] == "NOT_FILLED" and pending["cancel_order_id"] == cancel_id
    time.sleep(0.3)
    done = invex.get("/order", order_id=order_id).json()
    assert done["status"] == "CANCELED_BY_USER"
    assert balances(sandbox, "invex")["IRR"]["blocked"] == 0
    assert invex.delete("/orders", order_id=order_id).status_code == 422


def test_search_orders_page_size_defaults_to_10_and_is_at_most_100(invex):
    """swagger GET /trading/v1/orders: page (1), page_size (default 10, maximum 100)
    → {orders, total_count}."""
    for i in range(12):
        invex.place(quantity="0.01", price=str(99000000000 - 10 * i), client_order_id=f"s-{i}")
    first = invex.get("/orders").json()
    assert len(first["orders"]) == 10 and first["total_count"] == 12
    assert first["orders"][0]["client_order_id"] == "s-11"  # newest first
    assert "trades" not in first["orders"][0]
    second = invex.get("/orders", page="2").json()
    assert [o["client_order_id"] for o in second["orders"]] == ["s-1", "s-0"]
    assert invex.get("/orders", page_size="101").status_code == 422
    assert invex.get("/orders", status="FULL_FILLED").json()["total_count"] == 0


def test_account_balance(invex):
    """GET /trading/v1/accounts?currency= → {currency, available, blocked, total}."""
    invex.place(quantity="0.01", price="99000000000")
    body = invex.get("/accounts", currency="IRR").json()
    assert body == {"currency": "IRR", "available": "99010000000", "blocked": "990000000",
                    "total": "100000000000"}
    assert invex.get("/accounts", currency="irr").status_code == 422


def test_refusals_are_422_with_loc_msg_type(invex):
    """swagger HTTPValidationError: 422 {"detail": [{loc, msg, type}]}."""
    small = invex.place(quantity="0.000001", price="99000000000")
    assert small.status_code == 422
    assert small.json()["detail"][0]["type"] == "value_error.minimum_limit_order_value"
    poor = invex.place(quantity="5", price="99000000000")
    assert poor.json()["detail"][0]["type"] == "value_error.insufficient_balance"
    tick = invex.place(quantity="0.01", price="99000000005")
    assert tick.json()["detail"][0]["type"] == "value_error.tick_size"


def test_post_body_without_content_type_is_read(invex, invex_keys):
    """The official example posts data=json.dumps(params) with no Content-Type."""
    params = {"quantity": "0.01", "price": "99000000000", "symbol": "BTC_IRR",
              "side": "BUYER", "type": "LIMIT", "expire_at": expire_at(60)}
    params["signature"] = sign(params, invex_keys[0])
    resp = requests.post(invex.base + "/orders", data=json.dumps(params),
                         headers={"X-API-Key-Invex": INVEX_KEY}, timeout=5)
    assert resp.status_code == 200 and "order_id" in resp.json()
