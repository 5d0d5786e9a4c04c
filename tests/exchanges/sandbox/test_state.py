"""The sandbox's state across restarts (issue 12: "the sandbox hands out order ids that do
not repeat across restarts"): orders, fills, balances and id counters in a state file,
written atomically; ids unique even when the file is lost."""

import json
import os
from decimal import Decimal as D

import pytest

from exchanges.sandbox.state import StateError, write_atomically

from .conftest import InvexClient, NobitexClient, WallexClient, balances, make_server


def place_everywhere(server, invex_private: str) -> dict[str, str]:
    """One filled and one resting order per exchange; their ids."""
    nobitex = NobitexClient(server.base_url("nobitex"))
    wallex = WallexClient(server.base_url("wallex"))
    invex = InvexClient(server.base_url("invex"), invex_private)
    ids = {
        "nobitex_filled": nobitex.place(type="buy", amount="0.01", price="100100000000",
                                        clientOrderId="n-f").json()["order"]["id"],
        "nobitex_open": nobitex.place(type="buy", amount="0.01", price="99000000000",
                                      clientOrderId="n-o").json()["order"]["id"],
        "invex_open": invex.place(quantity="0.01", price="99000000000",
                                  client_order_id="i-o").json()["order_id"],
    }
    assert wallex.place(side="BUY", price="10010000000", quantity="0.01",
                        client_id="W_F").status_code == 201
    assert wallex.place(side="BUY", price="9000000000", quantity="0.01",
                        client_id="W_O").status_code == 201
    return ids


def test_orders_fills_and_balances_survive_a_restart(tmp_path, invex_keys):
    path = tmp_path / "sandbox-state.json"
    first = make_server(invex_keys[1], state_path=path).start()
    ids = place_everywhere(first, invex_keys[0])
    before = {ex: balances(first, ex) for ex in ("nobitex", "wallex", "invex")}
    first.stop()
    assert json.loads(path.read_text())["format"] == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    with make_server(invex_keys[1], state_path=path) as second:
        assert second.restored
        assert {ex: balances(second, ex) for ex in before} == before
        nobitex = NobitexClient(second.base_url("nobitex"))
        filled = nobitex.post("/market/orders/status", {"id": ids["nobitex_filled"]}).json()
        assert filled["order"]["status"] == "Done" and filled["order"]["clientOrderId"] == "n-f"
        resting = nobitex.post("/market/orders/status", {"clientOrderId": "n-o"}).json()
        assert resting["order"]["id"] == ids["nobitex_open"]
        assert len(nobitex.get("/market/trades/list").json()["trades"]) == 1
        wallex = WallexClient(second.base_url("wallex"))
        assert wallex.get("/v1/account/orders/W_F").json()["result"]["status"] == "FILLED"
        invex = InvexClient(second.base_url("invex"), invex_keys[0])
        assert invex.get("/order", order_id=ids["invex_open"]).json()["status"] == "NOT_FILLED"
        # a restored resting order still matches, and keeps its block until then
        assert balances(second, "nobitex")["rls"]["blocked"] == D("990000000")
        second.set_book("nobitex", "BTCIRT", asks=[["98990000000", "1"]],
                        bids=[["98980000000", "1"]])
        assert nobitex.post("/market/orders/status", {"id": ids["nobitex_open"]}).json()[
            "order"]["status"] == "Done"
        # new ids never repeat the old ones
        new = nobitex.place(type="buy", amount="0.01", price="98990000000").json()["order"]
        assert new["id"] > max(ids["nobitex_filled"], ids["nobitex_open"])
        assert second.state()["exchanges"]["nobitex"]["counters"]["orders_placed"] == 3


def test_ids_do_not_repeat_without_a_state_file(invex_keys):
    """In memory only (no file, or the file lost): counters start at the clock."""
    orders, trades = set(), set()
    for _ in range(3):
        with make_server(invex_keys[1]) as server:
            client = NobitexClient(server.base_url("nobitex"))
            for price in ("99000000000", "100100000000"):
                order = client.place(type="buy", amount="0.01", price=price).json()["order"]
                assert order["id"] not in orders
                orders.add(order["id"])
            listed = {t["id"] for t in client.get("/market/trades/list").json()["trades"]}
            assert listed and not listed & trades
            trades |= listed
            server.reset()
            after = client.place(type="buy", amount="0.01", price="99000000000").json()
            assert after["order"]["id"] not in orders
            orders.add(after["order"]["id"])


def test_the_file_is_written_soon_after_a_change_and_replaced_atomically(tmp_path, invex_keys):
    path = tmp_path / "state.json"
    with make_server(invex_keys[1], state_path=path) as server:
        NobitexClient(server.base_url("nobitex")).place(type="buy", amount="0.01",
                                                        price="99000000000")
        server.save_state()
        saved = json.loads(path.read_text())
        (order,) = saved["exchanges"]["nobitex"]["orders"]
        assert order["client_id"] is None and order["status"] == "open"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_atomically(path, '{"old": true}')

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        write_atomically(path, '{"new": true}')
    assert json.loads(path.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["state.json"]


def test_an_unreadable_state_file_is_a_clear_error(tmp_path, invex_keys):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="unreadable.*run.sh reset"):
        make_server(invex_keys[1], state_path=path)
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(StateError, match="format-1"):
        make_server(invex_keys[1], state_path=path)
    path.write_text(json.dumps({"format": 1, "exchanges": {"kraken": {}}}))
    with pytest.raises(StateError, match="does not fit"):
        make_server(invex_keys[1], state_path=path)
