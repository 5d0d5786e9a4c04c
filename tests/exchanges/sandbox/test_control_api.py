"""The control API over HTTP, as a subprocess-driven test or bench would use it."""

from decimal import Decimal as D

import requests

from exchanges.sandbox.signing import new_key_pair, sign

from .conftest import InvexClient


def control(sandbox, action: str, body: dict | None = None) -> requests.Response:
    url = f"{sandbox.url}/_sandbox/{action}"
    if body is None:
        return requests.get(url, timeout=5)
    return requests.post(url, json=body, timeout=5)


def test_state_faults_book_drift_accounts_reset(sandbox, wallex):
    state = control(sandbox, "state").json()
    assert state["scenario"] == "static" and set(state["exchanges"]) == {
        "nobitex", "wallex", "invex"}
    assert state["fair_prices"]["USDT-IRR"] == "1000000"

    assert control(sandbox, "faults", {"spec": "wallex:error5xx=1"}).json()["ok"]
    assert wallex.get("/v1/depth", symbol="BTCTMN").status_code >= 500
    assert control(sandbox, "faults", {"clear": True}).json()["faults"]["wallex"] == {}

    book = {"exchange": "wallex", "symbol": "BTCTMN", "asks": [["10100000000", "0.3"]],
            "bids": [["9900000000", "0.2"]], "freeze": True}
    assert control(sandbox, "book", book).json()["ok"]
    depth = wallex.get("/v1/depth", symbol="BTCTMN").json()["result"]
    assert depth["ask"] == [{"price": "10100000000", "quantity": "0.3", "sum": "3030000000"}]
    bad = control(sandbox, "book", {"exchange": "wallex", "symbol": "NOPE"})
    assert bad.status_code == 400

    assert control(sandbox, "drift", {"paused": True}).json()["drift_paused"] is True
    assert control(sandbox, "drift", {"paused": False, "step": 2}).json()["ok"]

    private, public = new_key_pair()
    assert control(sandbox, "accounts", {"exchange": "invex", "api_key": "k2",
                                         "public_key_hex": public,
                                         "balances": {"IRR": "5000000"}}).json()["ok"]
    client = InvexClient(sandbox.base_url("invex"), private, key="k2")
    assert client.get("/accounts", currency="IRR").json()["total"] == "5000000"

    wallex.post("/v1/account/orders", {"symbol": "BTCTMN", "type": "MARKET", "side": "BUY",
                                       "quantity": "0.01"})
    assert control(sandbox, "accounts", {"exchange": "wallex", "api_key": "ro",
                                         "permissions": ["read"]}).json()["ok"]
    assert control(sandbox, "accounts", {"exchange": "wallex", "api_key": "x",
                                         "permissions": ["fly"]}).status_code == 400
    assert control(sandbox, "state").json()["exchanges"]["wallex"]["orders"]
    assert control(sandbox, "reset", {}).json()["ok"]
    after = control(sandbox, "state").json()["exchanges"]["wallex"]
    assert after["orders"] == [] and after["counters"]["orders_placed"] == 0
    assert after["accounts"][0]["balances"]["BTC"]["total"] == "1"
    assert client.get("/accounts", currency="IRR").json()["total"] == "5000000"  # kept


def test_state_reports_orders_with_fills(sandbox, nobitex):
    nobitex.place(type="sell", amount="0.01", price="99960000000", clientOrderId="s-1")
    (order,) = control(sandbox, "state").json()["exchanges"]["nobitex"]["orders"]
    assert order["client_order_id"] == "s-1" and order["status"] == "filled"
    assert order["fills"][0]["price"] == "99960000000"
    assert D(order["fee"]) == D("0.01") * D("99960000000") * D("0.0025")


def test_signature_helper_matches_the_official_example():
    """examples/create_order.py signs json.dumps(params) (default separators, insertion
    order, expire_at included, signature left out); "compact" is the sorted variant."""
    from exchanges.sandbox.signing import message, verify

    private, public = new_key_pair()
    params = {"symbol": "BTC_IRR", "expire_at": "2030-01-01 00:00:00"}
    assert message({**params, "signature": "x"}) == (
        b'{"symbol": "BTC_IRR", "expire_at": "2030-01-01 00:00:00"}')
    assert message(params, "compact") == (
        b'{"expire_at":"2030-01-01 00:00:00","symbol":"BTC_IRR"}')
    assert verify(params, sign(params, private), public)
    assert not verify(params, sign(params, private, "compact"), public)


def test_variants_endpoint(sandbox):
    listed = control(sandbox, "variants").json()
    assert listed["allowed"]["invex-signing"] == ["official", "compact"]
    assert control(sandbox, "variants", {"invex-signing": "compact"}).json()["variants"][
        "invex-signing"] == "compact"
    assert control(sandbox, "state").json()["variants"]["invex-signing"] == "compact"
    assert control(sandbox, "variants", {"invex-signing": "x"}).status_code == 400
