"""Fault injection: latency, 5xx, 429, hangs, malformed bodies, lost answers, down."""

import threading
import time
from decimal import Decimal

import pytest
import requests

from exchanges.sandbox.faults import Faults, parse_spec

from .conftest import NobitexClient, WallexClient, make_server

BUY = {"type": "buy", "amount": "0.01", "price": "100040000000"}


def placed(sandbox, exchange: str) -> int:
    return sandbox.state()["exchanges"][exchange]["counters"]["orders_placed"]


def test_spec_parsing():
    parsed = parse_spec("nobitex:latency=50,wallex:error5xx=0.2,all:timeout=0.1")
    assert parsed["nobitex"] == {"latency": "50", "timeout": "0.1"}
    assert parsed["wallex"] == {"error5xx": "0.2", "timeout": "0.1"}
    assert parsed["invex"] == {"timeout": "0.1"}
    for bad in ("nobitex:latency", "kraken:latency=5", "nobitex:explode=1"):
        with pytest.raises(ValueError):
            parse_spec(bad)
    with pytest.raises(ValueError):
        Faults("nobitex:error5xx=2")


def test_draws_are_deterministic_under_a_seed():
    a, b = Faults("all:error5xx=0.5", seed=3), Faults("all:error5xx=0.5", seed=3)
    assert [a.roll("wallex", "error5xx") for _ in range(50)] == [
        b.roll("wallex", "error5xx") for _ in range(50)]


def test_latency_applies_to_one_exchange(sandbox, nobitex, wallex):
    sandbox.set_faults("nobitex:latency=300")
    started = time.monotonic()
    assert nobitex.get("/v3/orderbook/BTCIRT").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    wallex.get("/v1/depth", symbol="BTCTMN")
    assert time.monotonic() - started < 0.3


def test_error5xx_refuses_without_executing(sandbox, nobitex):
    sandbox.set_faults("nobitex:error5xx=1")
    resp = nobitex.place(**BUY)
    assert resp.status_code in (500, 502, 503)
    assert placed(sandbox, "nobitex") == 0


def test_ratelimit_fault_answers_429_with_backoff(sandbox, nobitex, wallex, invex):
    sandbox.set_faults("all:ratelimit=1")
    nob = nobitex.get("/v3/orderbook/BTCIRT")
    assert nob.status_code == 429 and nob.json()["code"] == "TooManyRequests"
    assert nob.json()["backOff"] >= 1  # the docs give backOff in the body, no header
    wal = wallex.get("/v1/depth", symbol="BTCTMN")
    assert wal.status_code == 429 and wal.json()["success"] is False
    inv = invex.public("/markets")
    assert inv.status_code == 429 and "detail" in inv.json()
    counters = sandbox.state()["exchanges"]
    assert [counters[ex]["counters"]["rate_limited"] for ex in counters] == [1, 1, 1]


def test_malformed_body_with_200(sandbox, wallex):
    sandbox.set_faults("wallex:malformed=1")
    for _ in range(5):
        resp = wallex.get("/v1/depth", symbol="BTCTMN")
        assert resp.status_code == 200
        with pytest.raises(ValueError):
            resp.json()


def test_lost_answer_executes_the_order_but_the_client_sees_an_error(sandbox, nobitex):
    sandbox.set_faults("nobitex:lost_answer=1")
    for i in range(4):  # both ways of losing it: a 502 and a dropped connection
        try:
            resp = nobitex.place(**BUY, clientOrderId=f"lost-{i}")
        except requests.ConnectionError:
            continue
        assert resp.status_code == 502
    sandbox.clear_faults()
    orders = sandbox.state()["exchanges"]["nobitex"]["orders"]
    assert [o["client_order_id"] for o in orders] == [f"lost-{i}" for i in range(4)]
    assert {o["status"] for o in orders} == {"filled"}
    trades = nobitex.get("/market/trades/list").json()["trades"]
    assert len(trades) == 4
    assert sandbox.state()["exchanges"]["nobitex"]["counters"]["lost_answers"] == 4


def test_lost_answer_leaves_a_resting_order_findable(sandbox, wallex):
    sandbox.set_faults("wallex:lost_answer=1")
    try:
        resp = wallex.post("/v1/account/orders", {
            "symbol": "BTCTMN", "type": "LIMIT", "side": "BUY", "price": "9000000000",
            "quantity": "0.01", "client_id": "LOST_W"})
        assert resp.status_code == 502
    except requests.ConnectionError:
        pass
    sandbox.clear_faults()
    order = wallex.get("/v1/account/orders/LOST_W").json()["result"]
    assert order["status"] == "NEW" and order["active"] is True


def test_down_refuses_everything(sandbox, nobitex):
    sandbox.set_faults("nobitex:down=1")
    assert nobitex.get("/v3/orderbook/BTCIRT").status_code == 503
    sandbox.set_faults("nobitex:down=close")
    with pytest.raises(requests.ConnectionError):
        nobitex.get("/v3/orderbook/BTCIRT")
    sandbox.set_faults("nobitex:down=0")
    assert nobitex.get("/v3/orderbook/BTCIRT").status_code == 200


def test_timeout_hangs_one_request_while_others_are_served(invex_keys):
    server = make_server(invex_keys[1], faults="nobitex:timeout=1").start()
    try:
        hung: list[BaseException] = []

        def call() -> None:
            try:
                NobitexClient(server.base_url("nobitex")).session.get(
                    server.base_url("nobitex") + "/v3/orderbook/BTCIRT", timeout=1.5)
            except requests.Timeout as exc:
                hung.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.1)
        started = time.monotonic()
        wallex = WallexClient(server.base_url("wallex"))
        for _ in range(20):
            assert wallex.get("/v1/depth", symbol="BTCTMN").status_code == 200
        assert time.monotonic() - started < 1.0
        thread.join()
        assert hung, "the faulted request should have timed out on the client"
    finally:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5  # a hanging request does not hold up stop()


def test_crossed_book_serves_a_phantom_bid_above_the_best_ask_and_matches_the_real_book(
        sandbox, nobitex, wallex, invex):
    sandbox.set_faults("all:crossed=3")
    book = nobitex.get("/v3/orderbook/BTCIRT").json()
    assert book["bids"][0] == ["103041200000", "0.05"]  # 100,040,000,000 × 1.03
    assert book["asks"][0][0] == "100040000000" and book["bids"][1][0] == "99960000000"
    depth = wallex.get("/v1/depth", symbol="BTCTMN").json()["result"]
    assert float(depth["bid"][0]["price"]) > float(depth["ask"][0]["price"])
    invex_book = invex.public("/market-depth", symbol="BTC_IRR", depth="5").json()
    assert (float(invex_book["bid_orders"][0]["price"])
            > float(invex_book["ask_orders"][0]["price"]))
    # A sell at the phantom bid does not fill: the engine matches the real book
    resp = nobitex.place(type="sell", amount="0.01", price="103041200000")
    assert resp.json()["status"] == "ok"
    order = sandbox.state()["exchanges"]["nobitex"]["orders"][0]
    assert order["status"] == "open" and Decimal(order["filled"]) == 0
    sandbox.set_faults("nobitex:crossed=0")
    assert nobitex.get("/v3/orderbook/BTCIRT").json()["bids"][0][0] == "99960000000"


def test_swapped_book_serves_bids_as_asks_and_asks_as_bids(sandbox, nobitex):
    sandbox.set_faults("nobitex:swapped=1")
    book = nobitex.get("/v3/orderbook/BTCIRT").json()
    assert book["bids"][0][0] == "100040000000" and book["asks"][0][0] == "99960000000"
    assert sandbox.state()["faults"]["nobitex"] == {"swapped": True}
    for bad in ("nobitex:crossed=-1", "nobitex:crossed=abc"):
        with pytest.raises(ValueError):
            sandbox.set_faults(bad)
