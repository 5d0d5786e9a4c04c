"""What each adapter sends and how it reads what the docs describe, over real HTTP
(``tests.exchanges.replay``): bodies, units, envelopes, statuses, variants.

The docs' own example answers are in ``test_golden.py``; these tests cover
the documented behaviour those examples do not show (a partial fill, a
second page, a 404 to a lookup, each wire variant).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_der_public_key

from exchanges.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from exchanges.states import OrderState
from exchanges.types import BookLevel, OrderRequest, OrderType, Side
from tests.exchanges.conftest import INVEX_KEY, NOBITEX_TOKEN, WALLEX_KEY, make_adapter

D = Decimal


def ok(result: object) -> dict:
    return {"result": result, "message": "ok", "success": True}


def verify(public_hex: str, message: bytes, signature_hex: str) -> bool:
    key = load_der_public_key(bytes.fromhex(public_hex))
    try:
        key.verify(bytes.fromhex(signature_hex), message,
                   padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                               salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
    except Exception:
        return False
    return True


NOBITEX_ORDER = {"id": 1, "type": "buy", "execution": "Limit", "srcCurrency": "Bitcoin",
                 "dstCurrency": "﷼", "price": "1000000000", "amount": "0.01",
                 "status": "Active", "matchedAmount": "0", "clientOrderId": "NE_1",
                 "created_at": "2026-01-01T10:00:00+00:00"}


class TestNobitex:
    def test_place_is_pro_with_the_bot_user_agent(self, replay, replay_adapter):
        replay.route("POST", "/market/orders/add", (200, {"status": "ok", "order": NOBITEX_ORDER}))
        adapter = replay_adapter("nobitex")
        adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D("0.01"),
                                         "NE_1", price=D("1000000005")))
        sent = replay.seen[0]
        assert sent.json()["pro"] == "yes"  # identical orders within 10 s are not refused
        assert sent.json()["price"] == "1000000000"  # a buy rounds down to the tick
        assert sent.headers["user-agent"] == "TraderBot/arbsite"
        assert sent.headers["authorization"] == f"Token {NOBITEX_TOKEN}"

    @pytest.mark.parametrize(("status", "matched", "state"), [
        ("Active", "0", OrderState.OPEN),
        ("Active", "0.004", OrderState.PARTIALLY_FILLED),
        ("Done", "0.01", OrderState.FILLED),
        ("Canceled", "0.002", OrderState.CANCELLED),
        ("Inactive", "0", OrderState.OPEN),
        ("New", "0", OrderState.OPEN),
        ("Weird", "0", OrderState.UNKNOWN),
    ])
    def test_status_mapping(self, replay, replay_adapter, status, matched, state):
        replay.route("POST", "/market/orders/status", (200, {"status": "ok", "order": {
            **NOBITEX_ORDER, "status": status, "matchedAmount": matched}}))
        order = replay_adapter("nobitex").get_order(exchange_order_id="1")
        assert order.state is state and order.filled_quantity == D(matched)
        assert order.market == "BTC-IRR"  # from the currency names

    def test_average_is_total_price_over_matched_amount(self, replay, replay_adapter):
        replay.route("POST", "/market/orders/status", (200, {"status": "ok", "order": {
            **NOBITEX_ORDER, "status": "Done", "matchedAmount": "0.01",
            "totalPrice": "9990000", "totalOrderPrice": "10000000"}}))
        order = replay_adapter("nobitex").get_order(exchange_order_id="1")
        assert order.average_price == D("999000000")

    def test_an_impossible_ratio_is_no_average(self, replay, replay_adapter):
        """In the older examples totalPrice is the order's value: for a partial
        fill its ratio would be above a buy's limit, which cannot be."""
        replay.route("POST", "/market/orders/status", (200, {"status": "ok", "order": {
            **NOBITEX_ORDER, "matchedAmount": "0.004", "totalPrice": "10000000"}}))
        assert replay_adapter("nobitex").get_order(exchange_order_id="1").average_price is None
        replay.route("POST", "/market/orders/status", (200, {"status": "ok", "order": {
            **NOBITEX_ORDER, "matchedAmount": "0.004", "totalPrice": "10000000",
            "averagePrice": "998000000"}}))
        assert replay_adapter("nobitex").get_order(
            exchange_order_id="1").average_price == D("998000000")

    def test_overvalue_order_is_insufficient_balance(self, replay, replay_adapter):
        replay.route("POST", "/market/orders/add", (200, {
            "status": "failed", "code": "OverValueOrder", "message": "Insufficient balance",
            "clientOrderId": "NE_1"}))
        with pytest.raises(RejectedError) as caught:
            replay_adapter("nobitex").place_order(OrderRequest(
                "BTC-IRR", Side.BUY, OrderType.LIMIT, D("1"), "NE_1", price=D("1000000000")))
        assert caught.value.reason == RejectedError.INSUFFICIENT_BALANCE
        assert caught.value.code == "OverValueOrder"

    @pytest.mark.parametrize("size", ["100", "1000"])
    def test_lists_page_with_details_until_a_short_page(self, replay, replay_adapter, size):
        rows = [{**NOBITEX_ORDER, "id": i, "clientOrderId": f"NE_{i}"} for i in range(int(size))]
        replay.route("GET", "/market/orders/list",
                     (200, {"status": "ok", "orders": rows}),
                     (200, {"status": "ok", "orders": rows[:1] and [
                         {**NOBITEX_ORDER, "id": 10**6, "clientOrderId": "NE_last"}]}))
        orders = replay_adapter("nobitex", variants={"nobitex-page-size": size}).open_orders()
        assert len(orders) == int(size) + 1
        assert [s.query["page"] for s in replay.seen] == ["1", "2"]
        assert {s.query["pageSize"] for s in replay.seen} == {size}
        assert {s.query["details"] for s in replay.seen} == {"2"}

    def test_rows_without_details_are_refused_not_guessed(self, replay, replay_adapter):
        """Without details=2 a row has no id and no status [doc: the list's field table]:
        such an answer cannot be matched to orders."""
        replay.route("GET", "/market/orders/list", (200, {"status": "ok", "orders": [
            {"type": "sell", "execution": "Limit", "srcCurrency": "Bitcoin",
             "dstCurrency": "Tether", "price": "9750.01", "amount": "0.0123",
             "matchedAmount": "0"}]}))
        with pytest.raises(Exception) as caught:
            replay_adapter("nobitex").open_orders()
        # An answer without the documented shape: transient, and one a lookup
        # reports as unclear (a human reads it), never a guess.
        assert type(caught.value).__name__ == "UnexpectedAnswerError"
        assert isinstance(caught.value, TransientError)
        assert "details=2" in str(caught.value)

    def test_401_is_authentication(self, replay, replay_adapter):
        replay.route("GET", "/users/wallets/list", (401, {"detail": "Invalid token."}))
        with pytest.raises(AuthenticationError, match="Invalid token"):
            replay_adapter("nobitex").balances()


WALLEX_ORDER = {"symbol": "BTCTMN", "type": "LIMIT", "side": "BUY", "clientOrderId": "WE_1",
                "transactTime": 0, "price": "10000000000", "origQty": "0.01",
                "executedQty": "0", "status": "NEW", "active": True, "fills": [],
                "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}


class TestWallex:
    def test_depth_in_rial_numbers_or_strings(self, replay, replay_adapter):
        replay.route("GET", "/v1/depth", (200, '{"result":{"ask":[{"price":"100.5","quantity"'
                                               ':0.1,"sum":1}],"bid":[{"price":99,"quantity"'
                                               ':"2","sum":"198"}]},"message":"ok","success":true}'))
        book = replay_adapter("wallex").get_order_book("USDT-IRR")
        assert book.asks == (BookLevel(D("1005.0"), D("0.1")),)  # toman × 10
        assert book.bids == (BookLevel(D("990"), D("2")),)

    def test_place_answers_201_and_reads_created_at(self, replay, replay_adapter):
        replay.route("POST", "/v1/account/orders", (201, ok(WALLEX_ORDER)))
        order = replay_adapter("wallex").place_order(OrderRequest(
            "BTC-IRR", Side.BUY, OrderType.LIMIT, D("0.01"), "WE_1", price=D("100000000005")))
        sent = replay.seen[0]
        assert sent.json() == {"symbol": "BTCTMN", "type": "LIMIT", "side": "BUY",
                               "quantity": "0.01", "client_id": "WE_1", "price": "10000000000"}
        assert sent.headers["x-api-key"] == WALLEX_KEY
        assert order.state is OrderState.OPEN and order.price == D("100000000000")
        assert order.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # not transactTime 0

    @pytest.mark.parametrize(("status", "executed", "state"), [
        ("NEW", "0", OrderState.OPEN),
        ("NEW", "0.004", OrderState.PARTIALLY_FILLED),
        ("PARTIALLY_FILLED", "0.004", OrderState.PARTIALLY_FILLED),
        ("FILLED", "0.01", OrderState.FILLED),
        ("CANCELED", "0", OrderState.CANCELLED),
        ("FINISHED", "0.01", OrderState.FILLED),
        ("FINISHED", "0.004", OrderState.CANCELLED),
        ("FINISHED", "0", OrderState.CANCELLED),
    ])
    def test_status_mapping(self, replay, replay_adapter, status, executed, state):
        replay.route("GET", "/v1/account/orders/WE_1", (200, ok(
            {**WALLEX_ORDER, "status": status, "executedQty": executed})))
        order = replay_adapter("wallex").get_order(client_order_id="WE_1")
        assert order.state is state and order.filled_quantity == D(executed)

    def test_404_envelope_to_a_lookup_is_not_found(self, replay, replay_adapter):
        replay.route("GET", "/v1/account/orders/WE_9", (404, {
            "success": False, "message": "Order not found", "result": {}}))
        adapter = replay_adapter("wallex")
        with pytest.raises(NotFoundError):
            adapter.get_order(client_order_id="WE_9")
        assert adapter.find_order("WE_9") is None
        replay.route("GET", "/v1/account/orders/WE_9", (404, "<html>nginx</html>"))
        with pytest.raises(RejectedError) as caught:  # a bare 404 may be a wrong URL
            adapter.get_order(client_order_id="WE_9")
        assert not isinstance(caught.value, NotFoundError)

    def test_fills_get_ids_that_are_stable_and_never_collide(self, replay, replay_adapter):
        fill = {"price": "10000000000", "quantity": "0.002", "sum": "20000000", "fee": "0.000004",
                "feeAsset": "BTC", "feeCoefficient": "0.002", "isBuyer": True,
                "timestamp": "2026-01-02T03:04:06Z"}
        other = {**fill, "quantity": "0.001"}
        row = {**WALLEX_ORDER, "status": "FILLED", "executedQty": "0.005",
               "fills": [fill, fill, other]}
        replay.route("GET", "/v1/account/orders/WE_1", (200, ok(row)))
        adapter = replay_adapter("wallex")
        first = adapter.get_order(client_order_id="WE_1").fills
        assert len({f.trade_id for f in first}) == 3  # two identical fills, two ids
        replay.route("GET", "/v1/account/orders/WE_1", (200, ok(
            {**row, "fills": [other, fill, fill]})))
        again = adapter.get_order(client_order_id="WE_1").fills
        assert {f.trade_id for f in again} == {f.trade_id for f in first}  # order-independent
        assert all(f.client_order_id == "WE_1" and f.side is Side.BUY for f in first)
        assert first[0].price == D("100000000000")  # toman × 10

    @pytest.mark.parametrize("shape", ["map", "list"])
    def test_open_orders_in_both_shapes_and_pages(self, replay, replay_adapter, shape):
        rows = [{**WALLEX_ORDER, "clientOrderId": f"WE_{i}"} for i in range(50)]
        last = [{**WALLEX_ORDER, "clientOrderId": "WE_last"}]

        def page(orders):
            return ok({"BTCTMN": orders} if shape == "map" else {"orders": orders})

        replay.route("GET", "/v1/account/openOrders", (200, page(rows)), (200, page(last)))
        orders = replay_adapter("wallex").open_orders()
        assert len(orders) == 51 and orders[-1].client_order_id == "WE_last"
        assert [s.query["page"] for s in replay.seen] == ["1", "2"]

    def test_open_orders_when_the_server_ignores_pages(self, replay, replay_adapter):
        rows = [{**WALLEX_ORDER, "clientOrderId": f"WE_{i}"} for i in range(50)]
        replay.route("GET", "/v1/account/openOrders", (200, ok({"orders": rows})))
        assert len(replay_adapter("wallex").open_orders()) == 50
        assert len(replay.seen) == 2  # the second page brought nothing new: done

    @pytest.mark.parametrize("variant", ["query", "path"])
    def test_cancel_tries_the_other_form_when_the_route_is_missing(self, replay,
                                                                   replay_adapter, variant):
        missing = (404, {"success": False, "message": "Not found", "result": {}})
        done = (200, ok({**WALLEX_ORDER, "status": "CANCELED", "active": False}))
        replay.route("DELETE", "/v1/account/orders", missing if variant == "path" else done)
        replay.route("DELETE", "/v1/account/orders/WE_1", done if variant == "path" else missing)
        replay_adapter("wallex", variants={"wallex-cancel": variant}).cancel_order(
            client_order_id="WE_1")
        assert [s.path for s in replay.seen] == (
            ["/v1/account/orders"] if variant == "query" else ["/v1/account/orders/WE_1"])

        replay.seen.clear()
        replay.route("DELETE", "/v1/account/orders", missing)
        replay.route("DELETE", "/v1/account/orders/WE_1", done)
        replay_adapter("wallex").cancel_order(client_order_id="WE_1")  # default: query first
        assert [s.path for s in replay.seen] == ["/v1/account/orders",
                                                 "/v1/account/orders/WE_1"]
        assert replay.seen[0].query == {"clientOrderId": "WE_1"}

    def test_recent_fills_come_from_the_order_history(self, replay, replay_adapter):
        fill = {"price": "10000000000", "quantity": "0.01", "fee": "0.00002", "feeAsset": "BTC",
                "isBuyer": True, "timestamp": "2026-01-02T03:04:06Z"}
        replay.route("GET", "/v1/account/orders", (200, ok({"orders": [
            {**WALLEX_ORDER, "status": "FILLED", "executedQty": "0.01", "fills": [fill]},
            {**WALLEX_ORDER, "clientOrderId": "WE_2", "status": "FILLED",
             "executedQty": "0.01"}]})))
        replay.route("GET", "/v1/account/orders/WE_2", (200, ok(
            {**WALLEX_ORDER, "clientOrderId": "WE_2", "status": "FILLED", "executedQty": "0.01",
             "fills": [fill]})))
        fills = replay_adapter("wallex").recent_fills("BTC-IRR")
        assert [f.client_order_id for f in fills] == ["WE_1", "WE_2"]
        assert replay.seen[0].query["market"] == "BTCTMN"
        assert "/v1/account/trades" not in {s.path for s in replay.seen}

    def test_balances_tmn_as_irr_in_rial(self, replay, replay_adapter):
        replay.route("GET", "/v1/account/balances", (200, ok({"balances": {
            "TMN": {"asset": "TMN", "faName": "تومان", "fiat": True, "value": "1500.5",
                    "locked": "100"},
            "BTC": {"asset": "BTC", "faName": "بیت کوین", "fiat": False, "value": "0.5",
                    "locked": "0"}}})))
        balances = replay_adapter("wallex").balances()
        assert balances["IRR"].total == D("15005.0") and balances["IRR"].locked == D("1000")
        assert balances["BTC"].available == D("0.5") and "TMN" not in balances


def invex_order(**extra) -> dict:
    return {"order_id": "u-1", "symbol": "BTC_IRR", "status": "NOT_FILLED", "type": "LIMIT",
            "side": "SELLER", "price": "1500000000", "quantity": "0.5", "deal_quantity": "0",
            "time_in_force": "GTC", "client_order_id": "IE_2",
            "created_at": "2024-05-01T10:00:00+00:00", "updated_at": "2024-05-01T10:00:00+00:00",
            **extra}


class TestInvex:
    @pytest.mark.parametrize("signing", ["official", "compact"])
    def test_signature_covers_exactly_the_bytes_sent(self, replay, replay_adapter, invex_keys,
                                                     signing):
        replay.route("POST", "/orders", (200, {"order_id": "u-1"}))
        adapter = replay_adapter("invex", variants={"invex-signing": signing})
        adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D("0.01"),
                                         "IE_1", price=D("1470001125")))
        sent = replay.seen[0]
        raw = sent.body.decode()
        body = json.loads(raw)
        unsigned = {k: v for k, v in body.items() if k != "signature"}
        if signing == "official":  # json.dumps defaults, insertion order, signature last
            message = json.dumps(unsigned)
            assert raw == message[:-1] + f', "signature": "{body["signature"]}"}}'
            assert list(body) == ["quantity", "price", "symbol", "side", "type",
                                  "client_order_id", "expire_at", "signature"]
        else:
            message = json.dumps(unsigned, separators=(",", ":"), sort_keys=True)
            assert raw == json.dumps(body, separators=(",", ":"), sort_keys=True)
        assert verify(invex_keys[1], message.encode(), body["signature"])
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["x-api-key-invex"] == INVEX_KEY
        assert body["price"] == "1470001120" and body["side"] == "BUYER"

    @pytest.mark.parametrize(("zone", "tz"), [("tehran", ZoneInfo("Asia/Tehran")),
                                              ("utc", UTC)])
    def test_expire_at_in_the_variant_zone(self, replay, replay_adapter, zone, tz):
        replay.route("GET", "/order", (200, invex_order()))
        replay_adapter("invex", variants={"invex-expire-tz": zone}).get_order(
            exchange_order_id="u-1")
        query = replay.seen[0].query
        written = datetime.strptime(query["expire_at"], "%Y-%m-%d %H:%M:%S")
        expected = (datetime.now(UTC) + timedelta(seconds=60)).astimezone(tz).replace(
            tzinfo=None)
        assert abs((written - expected).total_seconds()) < 5
        assert replay.seen[0].query_order == ["order_id", "expire_at", "signature"]

    def test_query_signature_is_over_the_parameters_in_order(self, replay, replay_adapter,
                                                             invex_keys):
        replay.route("GET", "/order", (200, invex_order()))
        replay_adapter("invex").get_order(client_order_id="IE_2")
        query = replay.seen[0].query
        message = json.dumps({"client_order_id": "IE_2", "expire_at": query["expire_at"]})
        assert verify(invex_keys[1], message.encode(), query["signature"])

    def test_swagger_field_names(self, replay, replay_adapter):
        replay.route("POST", "/orders", (200, {"order_id": "u-1"}))
        replay_adapter("invex", variants={"invex-order-fields": "swagger"}).place_order(
            OrderRequest("BTC-IRR", Side.SELL, OrderType.MARKET, D("0.01"), "IE_1",
                         price=D("1470000000")))
        body = replay.seen[0].json()
        assert {k: body[k] for k in ("market_type", "order_side_type", "order_class_type",
                                     "customer_external_trace_id")} == {
            "market_type": "BTC_IRR", "order_side_type": "SELLER", "order_class_type": "MARKET",
            "customer_external_trace_id": "IE_1"}
        assert "price" not in body and "symbol" not in body

    def test_symbol_as_string_or_object_and_partial_fills(self, replay, replay_adapter):
        trade = {"type": "MAKER", "quantity": "0.2", "fee": "600000", "price": "1500000000",
                 "created_at": "2024-05-01T10:00:05+00:00"}
        obj = {"code": "BTC_IRR", "base_currency_type": "BTC", "quote_currency_type": "IRR"}
        replay.route("GET", "/order",
                     (200, invex_order(deal_quantity="0.2", trades=[trade])),
                     (200, invex_order(symbol=obj, deal_quantity="0.2", trades=[trade])))
        adapter = replay_adapter("invex")
        as_string = adapter.get_order(client_order_id="IE_2")
        as_object = adapter.get_order(client_order_id="IE_2")
        for order in (as_string, as_object):
            assert order.market == "BTC-IRR" and order.state is OrderState.PARTIALLY_FILLED
            assert order.average_price == D("1500000000")
            (fill,) = order.fills
            assert fill.is_maker is True and fill.fee_asset == "IRR"
        assert as_string.fills[0].trade_id == as_object.fills[0].trade_id  # deterministic

    def test_422_detail(self, replay, replay_adapter):
        replay.route("POST", "/orders", (422, {"detail": [
            {"loc": ["body", "quantity"], "msg": "below the minimum order value",
             "type": "value_error.minimum_order_value"}]}))
        with pytest.raises(RejectedError) as caught:
            replay_adapter("invex").place_order(OrderRequest(
                "BTC-IRR", Side.BUY, OrderType.LIMIT, D("1"), "IE_3", price=D("10000000000")))
        assert caught.value.code == "value_error.minimum_order_value"
        assert "body.quantity: below the minimum order value" in str(caught.value)

    def test_accounts_one_currency_per_call(self, replay, replay_adapter):
        replay.route("GET", "/accounts", (200, {"currency": "IRR", "available": "900",
                                                "blocked": "100", "total": "1000"}))
        adapter = replay_adapter("invex", markets={
            k: v for k, v in make_adapter("invex").markets.items() if k == "BTC-IRR"})
        balances = adapter.balances()
        assert [s.query["currency"] for s in replay.seen] == ["IRR", "BTC"]
        assert balances["IRR"].total == D("1000") and balances["IRR"].locked == D("100")

    def test_documented_host_is_the_default(self):
        from exchanges.adapters.invex import InvexAdapter
        from exchanges.catalog import EXCHANGES

        assert InvexAdapter.default_base_url == "https://invex.ir/trading/v1"
        assert EXCHANGES["invex"].default_base_url == "https://invex.ir/trading/v1"

    def test_without_private_key_is_authentication(self):
        with pytest.raises(AuthenticationError, match="private key"):
            make_adapter("invex").balances()


def test_unknown_variant_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="invex-signing='sorted'"):
        make_adapter("invex", variants={"invex-signing": "sorted"})
    with pytest.raises(ConfigurationError, match="unknown wire variant 'wallex-cancel'"):
        make_adapter("nobitex", variants={"wallex-cancel": "path"})
