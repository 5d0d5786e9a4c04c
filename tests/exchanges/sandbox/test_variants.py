"""Every reading of a point the docs leave open, switchable: one test per variant value.

WIRE.md says which doc line leaves each point open; the default (first) value is the
most literal reading and is what the wire tests assert.
"""

from decimal import Decimal as D

import pytest
import requests

from exchanges.sandbox.variants import DEFAULTS, VARIANTS, Variants, parse_assignments

from .conftest import InvexClient, NobitexClient, WallexClient, make_server


@pytest.fixture
def server(invex_keys, request):
    variants = getattr(request, "param", {})
    with make_server(invex_keys[1], variants=variants) as srv:
        yield srv


def with_variants(**variants):
    named = {k.replace("_", "-"): v for k, v in variants.items()}
    return pytest.mark.parametrize("server", [named], indirect=True)


def nob(server) -> NobitexClient:
    return NobitexClient(server.base_url("nobitex"))


def wal(server) -> WallexClient:
    return WallexClient(server.base_url("wallex"))


def inv(server, invex_keys, **kwargs) -> InvexClient:
    return InvexClient(server.base_url("invex"), invex_keys[0], **kwargs)


def test_the_list_and_its_defaults():
    assert DEFAULTS["invex-signing"] == "official" and DEFAULTS["wallex-client-id"] == "strict"
    assert all(len(values) >= 2 and values[0] == DEFAULTS[name]
               for name, values in VARIANTS.items())
    assert parse_assignments(["invex-signing=compact"]) == {"invex-signing": "compact"}
    for bad in (["invex-signing"], ["invex-signing=sorted"], ["no-such=1"]):
        with pytest.raises(ValueError):
            parse_assignments(bad)
    variants = Variants({"wallex-cancel": "path"})
    assert variants.changed() == {"wallex-cancel": "path"}
    with pytest.raises(ValueError):
        variants.update({"wallex-cancel": "body"})


def test_switched_while_serving_through_the_control_api(server):
    url = f"{server.url}/_sandbox/variants"
    assert requests.get(url, timeout=5).json()["variants"] == DEFAULTS
    resp = requests.post(url, json={"wallex-client-id": "lax"}, timeout=5)
    assert resp.json()["variants"]["wallex-client-id"] == "lax"
    assert wal(server).place(side="BUY", price="9000000000", quantity="0.01",
                             client_id="lower-case-1").status_code == 201
    assert requests.post(url, json={"wallex-client-id": "loose"}, timeout=5).status_code == 400
    requests.post(url, json={"reset": True}, timeout=5)
    assert server.state()["variants"]["wallex-client-id"] == "strict"


# -- Nobitex ------------------------------------------------------------------------

def _unknown_client_id_status(server) -> requests.Response:
    return nob(server).post("/market/orders/status", {"clientOrderId": "never-placed"})


@with_variants(nobitex_not_found="failed-404")
def test_nobitex_not_found_failed_404(server):
    resp = _unknown_client_id_status(server)
    assert resp.status_code == 404 and resp.json()["status"] == "failed"


@with_variants(nobitex_not_found="drf")
def test_nobitex_not_found_drf(server):
    resp = _unknown_client_id_status(server)
    assert resp.status_code == 404 and resp.json() == {"detail": "Not found."}


@with_variants(nobitex_not_found="empty")
def test_nobitex_not_found_empty(server):
    resp = _unknown_client_id_status(server)
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "order": None}


def test_nobitex_not_found_failed_is_the_default(server):
    resp = _unknown_client_id_status(server)
    assert resp.status_code == 200 and resp.json()["code"] == "NotFound"


@with_variants(nobitex_details_client_id="yes")
def test_nobitex_details_client_id_yes(server):
    nob(server).place(type="buy", amount="0.01", price="99000000000", clientOrderId="v-1")
    (row,) = nob(server).get("/market/orders/list", details=2).json()["orders"]
    assert row["clientOrderId"] == "v-1"
    (minimal,) = nob(server).get("/market/orders/list").json()["orders"]
    assert "clientOrderId" not in minimal


@with_variants(nobitex_page_size="1000")
def test_nobitex_page_size_1000(server):
    client = nob(server)
    for i in range(105):
        client.place(type="buy", amount="0.01", price=str(90000000000 + 10 * i))
    assert len(client.get("/market/orders/list", pageSize=1000).json()["orders"]) == 105
    assert len(client.get("/market/orders/list").json()["orders"]) == 100  # default 100


def test_nobitex_page_size_100_is_the_default(server):
    client = nob(server)
    for i in range(105):
        client.place(type="buy", amount="0.01", price=str(90000000000 + 10 * i))
    assert len(client.get("/market/orders/list", pageSize=1000).json()["orders"]) == 100
    assert len(client.get("/market/orders/list", page=2).json()["orders"]) == 5


@with_variants(nobitex_total_price="order")
def test_nobitex_total_price_order(server):
    server.set_book("nobitex", "BTCIRT", asks=[["100000000000", "0.01"]],
                    bids=[["99000000000", "1"]])
    order = nob(server).place(type="buy", amount="0.03", price="100000000000").json()["order"]
    assert order["matchedAmount"] == "0.01"
    assert order["totalPrice"] == "3000000000"  # amount × price, as the 2018 examples


@with_variants(nobitex_duplicate_order="all-fields")
def test_nobitex_duplicate_order_all_fields(server):
    body = {"type": "buy", "srcCurrency": "btc", "dstCurrency": "rls", "amount": "0.01",
            "price": "99000000000"}
    client = nob(server)
    assert client.post("/market/orders/add", {**body, "clientOrderId": "x1"}).json()[
        "status"] == "ok"
    assert client.post("/market/orders/add", {**body, "clientOrderId": "x2"}).json()[
        "status"] == "ok"  # a different clientOrderId makes it another order
    assert client.post("/market/orders/add", body).json()["status"] == "ok"
    assert client.post("/market/orders/add", body).json()["code"] == "DuplicateOrder"


@with_variants(nobitex_decimals="padded")
def test_nobitex_decimals_padded(server):
    order = nob(server).place(type="buy", amount="0.01", price="99000000000").json()["order"]
    assert order["amount"] == "0.0100000000" and order["matchedAmount"] == "0E-10"
    assert D(order["price"]) == D("99000000000")


# -- Wallex -------------------------------------------------------------------------

@with_variants(wallex_client_id="lax")
def test_wallex_client_id_lax(server):
    resp = wal(server).place(side="BUY", price="9000000000", quantity="0.01",
                             client_id="arb-0a1b-lower")
    assert resp.status_code == 201
    assert wal(server).get("/v1/account/orders/arb-0a1b-lower").status_code == 200


@with_variants(wallex_open_orders="list")
def test_wallex_open_orders_list(server):
    wal(server).place(side="BUY", price="9000000000", quantity="0.01", client_id="L_1")
    result = wal(server).get("/v1/account/openOrders").json()["result"]
    assert [o["clientOrderId"] for o in result["orders"]] == ["L_1"]
    history = wal(server).get("/v1/account/orders").json()["result"]
    assert [o["clientOrderId"] for o in history["orders"]] == ["L_1"]


@with_variants(wallex_cancel="path")
def test_wallex_cancel_path(server):
    client = wal(server)
    client.place(side="BUY", price="9000000000", quantity="0.01", client_id="P_1")
    assert client.delete("/v1/account/orders", clientOrderId="P_1").status_code == 404
    resp = client.session.delete(client.base + "/v1/account/orders/P_1", timeout=5)
    assert resp.status_code == 200 and resp.json()["result"]["active"] is False


@with_variants(wallex_numbers="number")
def test_wallex_numbers_number(server):
    ask = wal(server).get("/v1/depth", symbol="BTCTMN").json()["result"]["ask"][0]
    assert ask["price"] == 10004000000 and ask["quantity"] == 0.05
    assert isinstance(ask["sum"], str)
    btc = wal(server).get("/v1/markets").json()["result"]["symbols"]["BTCTMN"]
    assert btc["minNotional"] == 100000


@with_variants(wallex_partial_status="partially-filled")
def test_wallex_partial_status_partially_filled(server):
    server.set_book("wallex", "BTCTMN", asks=[["10000000000", "0.01"]],
                    bids=[["9900000000", "1"]])
    order = wal(server).place(side="BUY", price="10000000000", quantity="0.03",
                              client_id="PP_1").json()["result"]
    assert order["status"] == "PARTIALLY_FILLED" and order["executedQty"] == "0.01"


@with_variants(wallex_finished="all-closed")
def test_wallex_finished_all_closed(server):
    client = wal(server)
    filled = client.place(side="BUY", price="10010000000", quantity="0.01",
                          client_id="FA_1").json()["result"]
    assert filled["status"] == "FINISHED" and filled["executedQty"] == filled["origQty"]
    client.place(side="BUY", price="9000000000", quantity="0.01", client_id="FA_2")
    client.delete("/v1/account/orders", clientOrderId="FA_2")
    cancelled = client.get("/v1/account/orders/FA_2").json()["result"]
    assert cancelled["status"] == "FINISHED" and cancelled["executedQty"] == "0"


@with_variants(wallex_finished="never")
def test_wallex_finished_never(server):
    client = wal(server)
    client.place(side="BUY", price="9000000000", quantity="0.01", client_id="FN_1")
    resp = client.delete("/v1/account/orders", clientOrderId="FN_1")
    assert resp.json()["result"]["status"] == "CANCELED"


@with_variants(wallex_balance_value="available")
def test_wallex_balance_value_available(server):
    client = wal(server)
    client.place(side="BUY", price="9000000000", quantity="0.01", client_id="B_1")
    tmn = client.get("/v1/account/balances").json()["result"]["balances"]["TMN"]
    assert tmn["locked"] == "90000000"
    assert D(tmn["value"]) == D("10000000000") - D("90000000")


# -- Invex --------------------------------------------------------------------------

@with_variants(invex_signing="compact")
def test_invex_signing_compact(server, invex_keys):
    assert inv(server, invex_keys, fmt="compact").get("/accounts",
                                                      currency="IRR").status_code == 200
    official = inv(server, invex_keys).get("/accounts", currency="IRR")
    assert official.status_code == 422


@with_variants(invex_expire_tz="utc")
def test_invex_expire_tz_utc(server, invex_keys):
    assert inv(server, invex_keys, zone="utc").get("/accounts",
                                                   currency="IRR").status_code == 200
    tehran = inv(server, invex_keys).get("/accounts", currency="IRR")
    # Tehran local time read as UTC is 3.5 h ahead: beyond the hour allowed
    assert tehran.status_code == 422
    order_id = inv(server, invex_keys, zone="utc").place(
        quantity="0.01", price="99000000000").json()["order_id"]
    order = inv(server, invex_keys, zone="utc").get("/order", order_id=order_id).json()
    assert order["created_at"].endswith("+00:00")


@with_variants(invex_order_fields="swagger")
def test_invex_order_fields_swagger(server, invex_keys):
    client = inv(server, invex_keys)
    readme = client.place(quantity="0.01", price="99000000000")
    assert readme.status_code == 422
    resp = client.post("/orders", {"quantity": "0.01", "price": "99000000000",
                                   "market_type": "BTC_IRR", "order_side_type": "BUYER",
                                   "order_class_type": "LIMIT",
                                   "customer_external_trace_id": "sw-1"})
    assert resp.status_code == 200
    assert client.get("/order", client_order_id="sw-1").json()["quantity"] == "0.01"


@with_variants(invex_symbol="object")
def test_invex_symbol_object(server, invex_keys):
    client = inv(server, invex_keys)
    order_id = client.place(quantity="0.01", price="99000000000").json()["order_id"]
    symbol = client.get("/order", order_id=order_id).json()["symbol"]
    assert symbol == {"code": "BTC_IRR", "base_currency_type": "BTC",
                      "quote_currency_type": "IRR"}
    rules = client.public("/markets").json()["rules"]
    assert rules[0]["symbol"]["code"] in ("BTC_IRR", "ETH_IRR", "USDT_IRR")
