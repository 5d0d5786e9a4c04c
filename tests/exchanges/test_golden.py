"""The exact example payloads of docs/EXCHANGES.md, parsed by each adapter.

The answers go through the real HTTP client (a canned transport stands in
for the network) so envelopes, units and error classes are exercised too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchanges.errors import AuthenticationError, RateLimitedError, RejectedError
from exchanges.states import OrderState
from exchanges.types import BookLevel, OrderRequest, OrderType, Side
from tests.exchanges.conftest import NOBITEX_TOKEN, WALLEX_KEY, make_adapter

D = Decimal

NOBITEX_BOOK = json.loads(
    '{"status":"ok","lastUpdate":1644991756704,"lastTradePrice":"35650565900",'
    '"asks":[["1476091000","1.016"],["1479700000","0.2561"]],'
    '"bids":[["1470001120","0.126571"],["1470000000","0.818994"]]}'
)
NOBITEX_PLACED = json.loads(
    '{"status":"ok","order":{"price":"520000000","amount":"0.6","matchedAmount":0,'
    '"unmatchedAmount":"0.6","id":25,"status":"Active","partial":false,"fee":0,'
    '"created_at":"2018-11-28T11:36:13.592827+00:00","clientOrderId":"order1"}}'
)
NOBITEX_WALLET = json.loads(
    '{"currency":"rls","balance":"746212980","blockedBalance":"0","activeBalance":"746212980"}'
)
NOBITEX_429 = json.loads(
    '{"status":"failed","code":"TooManyRequests","message":"Too many requests",'
    '"backOff":12,"limit":60}'
)
WALLEX_DEPTH = json.loads(
    '{"result":{"ask":[{"price":"1317505698.00000000","quantity":"0.13471800","sum":"…"}],'
    '"bid":[{"price":"1311752950.00000000","quantity":"0.00076300","sum":"…"}]},'
    '"message":"The operation was successful","success":true}'
)
WALLEX_PLACED = json.loads(
    '{"symbol":"USDTTMN","type":"LIMIT","side":"SELL","clientOrderId":"LIMIT-93c7",'
    '"transactTime":1624846226,"price":"24828.0000000000000000",'
    '"origQty":"10.0000000000000000","executedQty":"0.0000000000000000","status":"NEW",'
    '"active":true,"fills":[]}'
)


class TestNobitex:
    def test_order_book_example(self, canned):
        adapter = make_adapter("nobitex")
        transport = canned(adapter, (200, NOBITEX_BOOK))

        book = adapter.get_order_book("BTC-IRR")

        assert transport.sent[0].url == "http://canned.invalid/v3/orderbook/BTCIRT"
        assert "Authorization" not in transport.sent[0].headers  # public endpoint
        assert book.bids == (BookLevel(D("1470001120"), D("0.126571")),
                             BookLevel(D("1470000000"), D("0.818994")))
        assert book.asks == (BookLevel(D("1476091000"), D("1.016")),
                             BookLevel(D("1479700000"), D("0.2561")))
        assert book.exchange_time == datetime(2022, 2, 16, 6, 9, 16, 704000, tzinfo=UTC)
        assert book.received_at.tzinfo is not None

    def test_book_is_sorted_defensively(self, canned):
        adapter = make_adapter("nobitex")
        shuffled = {**NOBITEX_BOOK, "asks": NOBITEX_BOOK["asks"][::-1],
                    "bids": NOBITEX_BOOK["bids"][::-1]}
        canned(adapter, (200, shuffled))
        book = adapter.get_order_book("BTC-IRR")
        assert [lvl.price for lvl in book.bids] == [D("1470001120"), D("1470000000")]
        assert [lvl.price for lvl in book.asks] == [D("1476091000"), D("1479700000")]

    def test_place_example(self, canned):
        adapter = make_adapter("nobitex")
        transport = canned(adapter, (200, NOBITEX_PLACED))

        order = adapter.place_order(OrderRequest(
            "BTC-IRR", Side.BUY, OrderType.LIMIT, D("0.6"), "order1", price=D("520000005"),
        ))

        sent = transport.sent[0]
        assert sent.url.endswith("/market/orders/add")
        assert sent.headers["Authorization"] == f"Token {NOBITEX_TOKEN}"
        assert transport.body() == {
            "type": "buy", "execution": "limit", "srcCurrency": "btc", "dstCurrency": "rls",
            "amount": "0.6", "price": "520000000", "clientOrderId": "order1",
        }  # the buy price rounded DOWN to the 10-rial tick
        assert order.state is OrderState.OPEN
        assert order.exchange_order_id == "25"
        assert order.client_order_id == "order1"
        assert (order.price, order.quantity, order.filled_quantity) == (
            D("520000000"), D("0.6"), D("0"))
        assert order.side is Side.BUY and order.market == "BTC-IRR"
        assert order.created_at == datetime(2018, 11, 28, 11, 36, 13, 592827, tzinfo=UTC)

    @pytest.mark.parametrize(("status", "matched", "state"), [
        ("Active", "0", OrderState.OPEN),
        ("Active", "0.2", OrderState.PARTIALLY_FILLED),
        ("Done", "0.6", OrderState.FILLED),
        ("Canceled", "0.1", OrderState.CANCELLED),
        ("Inactive", "0", OrderState.OPEN),
        ("New", "0", OrderState.OPEN),
        ("Weird", "0", OrderState.UNKNOWN),
    ])
    def test_status_mapping(self, canned, status, matched, state):
        adapter = make_adapter("nobitex")
        answer = {"status": "ok", "order": {**NOBITEX_PLACED["order"], "status": status,
                                            "matchedAmount": matched}}
        transport = canned(adapter, (200, answer))
        order = adapter.get_order(client_order_id="order1")
        assert transport.body() == {"clientOrderId": "order1"}
        assert order.state is state
        assert order.filled_quantity == D(matched)
        assert order.raw_status == status

    def test_wallet_example(self, canned):
        adapter = make_adapter("nobitex")
        canned(adapter, (200, {"status": "ok", "wallets": [NOBITEX_WALLET]}))
        balances = adapter.balances()
        assert balances["IRR"].total == D("746212980")
        assert balances["IRR"].available == D("746212980")
        assert balances["IRR"].locked == D("0")

    def test_429_example_carries_back_off(self, canned):
        adapter = make_adapter("nobitex")
        canned(adapter, (429, NOBITEX_429))
        with pytest.raises(RateLimitedError) as caught:
            adapter.get_order_book("BTC-IRR")
        assert caught.value.retry_after == 12
        assert "nobitex" in str(caught.value) and "Too many requests" in str(caught.value)

    def test_failed_envelope_is_a_rejection_with_code(self, canned):
        adapter = make_adapter("nobitex")
        canned(adapter, (200, {"status": "failed", "code": "SmallOrder",
                               "message": "Order value is too small"}))
        with pytest.raises(RejectedError) as caught:
            adapter.place_order(OrderRequest("BTC-IRR", Side.SELL, OrderType.LIMIT,
                                             D("0.001"), "c1", price=D("10000000000")))
        assert caught.value.code == "SmallOrder"
        assert "Order value is too small" in str(caught.value)

    def test_401_is_authentication(self, canned):
        adapter = make_adapter("nobitex")
        canned(adapter, (401, {"detail": "Invalid token."}))
        with pytest.raises(AuthenticationError, match="Invalid token"):
            adapter.balances()


class TestWallex:
    def test_depth_example_in_rial(self, canned):
        adapter = make_adapter("wallex")
        transport = canned(adapter, (200, WALLEX_DEPTH))

        book = adapter.get_order_book("BTC-IRR")

        assert transport.sent[0].url == "http://canned.invalid/v1/depth?symbol=BTCTMN"
        # toman × 10 = rial
        assert book.asks == (BookLevel(D("13175056980"), D("0.134718")),)
        assert book.bids == (BookLevel(D("13117529500"), D("0.000763")),)
        assert book.exchange_time is None and book.received_at is not None

    def test_depth_quantity_as_json_number(self, canned):
        adapter = make_adapter("wallex")
        body = ('{"result":{"ask":[{"price":"100.5","quantity":0.1}],'
                '"bid":[{"price":99,"quantity":2}]},"message":"ok","success":true}')
        canned(adapter, (200, body))
        book = adapter.get_order_book("USDT-IRR")
        assert book.asks[0] == BookLevel(D("1005.0"), D("0.1"))
        assert book.bids[0] == BookLevel(D("990"), D("2"))

    def test_place_example_sends_toman_and_reads_rial(self, canned):
        adapter = make_adapter("wallex")
        transport = canned(adapter, (200, {"result": WALLEX_PLACED, "message": "ok",
                                           "success": True}))

        order = adapter.place_order(OrderRequest(
            "USDT-IRR", Side.SELL, OrderType.LIMIT, D("13.004"), "LIMIT-93c7",
            price=D("248271"),
        ))

        assert transport.sent[0].headers["X-API-Key"] == WALLEX_KEY
        assert transport.body() == {
            "symbol": "USDTTMN", "type": "LIMIT", "side": "SELL", "quantity": "13",
            "price": "24828", "client_id": "LIMIT-93c7",
        }  # sell rounded UP to the 10-rial tick, then ÷10 to toman; quantity down
        assert order.state is OrderState.OPEN
        assert order.price == D("248280")
        assert order.quantity == D("10")  # as the docs' example answers
        assert order.exchange_order_id == order.client_order_id == "LIMIT-93c7"
        assert order.created_at == datetime(2021, 6, 28, 2, 10, 26, tzinfo=UTC)

    def test_balances_tmn_as_irr_in_rial(self, canned):
        adapter = make_adapter("wallex")
        canned(adapter, (200, {"result": {"balances": {
            "TMN": {"asset": "TMN", "faName": "تومان", "fiat": True, "value": "1500.5",
                    "locked": "100"},
            "BTC": {"asset": "BTC", "faName": "بیت کوین", "fiat": False, "value": "0.5",
                    "locked": "0"},
        }}, "message": "ok", "success": True}))
        balances = adapter.balances()
        assert balances["IRR"].total == D("15005.0")
        assert balances["IRR"].locked == D("1000")
        assert balances["IRR"].available == D("14005.0")
        assert balances["BTC"].total == D("0.5")
        assert "TMN" not in balances

    @pytest.mark.parametrize(("status", "executed", "state"), [
        ("NEW", "0", OrderState.OPEN),
        ("NEW", "1", OrderState.PARTIALLY_FILLED),
        ("PARTIALLY_FILLED", "1", OrderState.PARTIALLY_FILLED),
        ("FILLED", "10", OrderState.FILLED),
        ("CANCELED", "0", OrderState.CANCELLED),
    ])
    def test_status_mapping(self, canned, status, executed, state):
        adapter = make_adapter("wallex")
        row = {**WALLEX_PLACED, "status": status, "executedQty": executed}
        transport = canned(adapter, (200, {"result": row, "message": "ok", "success": True}))
        order = adapter.get_order(client_order_id="LIMIT-93c7")
        assert transport.sent[0].url.endswith("/v1/account/orders/LIMIT-93c7")
        assert order.state is state

    def test_failure_envelope(self, canned):
        adapter = make_adapter("wallex")
        canned(adapter, (400, {"result": {}, "message": "Insufficient balance",
                               "success": False, "code": "InsufficientBalance"}))
        with pytest.raises(RejectedError) as caught:
            adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D("1"),
                                             "c2", price=D("10000000000")))
        assert caught.value.code == "InsufficientBalance"
        assert str(caught.value).startswith("wallex: HTTP 400 [InsufficientBalance]")


class TestInvex:
    def test_depth_shape(self, canned):
        adapter = make_adapter("invex")
        transport = canned(adapter, (200, {
            "ask_orders": [{"depth": 2, "price": "1480000000", "quantity": "0.2"},
                           {"depth": 1, "price": "1476091000", "quantity": "1.016"}],
            "bid_orders": [{"depth": 1, "price": "1470001120", "quantity": "0.126571"}],
        }))
        book = adapter.get_order_book("BTC-IRR")
        assert transport.sent[0].url == (
            "http://canned.invalid/market-depth?symbol=BTC_IRR&depth=20")
        assert [lvl.price for lvl in book.asks] == [D("1476091000"), D("1480000000")]
        assert book.bids == (BookLevel(D("1470001120"), D("0.126571")),)

    def test_place_is_signed_and_verifiable(self, canned, invex_keys):
        from exchanges.sandbox.signing import verify

        private, public = invex_keys
        adapter = make_adapter("invex", api_secret=private)
        transport = canned(adapter, (200, {"order_id": "5d2b6c1e-0000-4000-8000-000000000001"}))

        order = adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT,
                                                 D("0.01"), "cid-1", price=D("1470001125")))

        body = transport.body()
        assert transport.sent[0].headers["X-API-Key-Invex"] == "invex-key-0123456789abcdef"
        assert {k: body[k] for k in ("symbol", "side", "type", "quantity", "price",
                                     "client_order_id")} == {
            "symbol": "BTC_IRR", "side": "BUYER", "type": "LIMIT", "quantity": "0.01",
            "price": "1470001120", "client_order_id": "cid-1"}
        expire = datetime.strptime(body["expire_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert 30 < (expire - datetime.now(UTC)).total_seconds() <= 61
        assert verify(body, body["signature"], public)
        assert order.exchange_order_id == "5d2b6c1e-0000-4000-8000-000000000001"
        assert order.state is OrderState.OPEN

    def test_order_with_trades(self, canned, invex_keys):
        adapter = make_adapter("invex", api_secret=invex_keys[0])
        row = {"order_id": "u-1", "symbol": "BTC_IRR", "status": "NOT_FILLED", "type": "LIMIT",
               "side": "SELLER", "price": "1500000000", "quantity": "0.5",
               "deal_quantity": "0.2", "client_order_id": "cid-2",
               "created_at": "2024-05-01T10:00:00+00:00",
               "trades": [{"type": "MAKER", "quantity": "0.2", "fee": "600000",
                           "price": "1500000000", "created_at": "2024-05-01T10:00:05+00:00"}]}
        transport = canned(adapter, (200, row), (200, row))
        order = adapter.get_order(client_order_id="cid-2")
        again = adapter.get_order(client_order_id="cid-2")
        assert "client_order_id=cid-2" in transport.sent[0].url
        assert "signature=" in transport.sent[0].url and "expire_at=" in transport.sent[0].url
        assert order.state is OrderState.PARTIALLY_FILLED
        assert order.filled_quantity == D("0.2")
        assert order.average_price == D("1500000000")
        (fill,) = order.fills
        assert fill.is_maker is True and fill.fee == D("600000") and fill.fee_asset == "IRR"
        assert fill.trade_id == again.fills[0].trade_id  # deterministic

    @pytest.mark.parametrize(("status", "state"), [
        ("FULL_FILLED", OrderState.FILLED),
        ("CANCELED_BY_USER", OrderState.CANCELLED),
        ("CANCELED_BY_SYSTEM", OrderState.EXPIRED),
        ("INACTIVE", OrderState.OPEN),
    ])
    def test_status_mapping(self, canned, invex_keys, status, state):
        adapter = make_adapter("invex", api_secret=invex_keys[0])
        canned(adapter, (200, {"order_id": "u", "symbol": "BTC_IRR", "status": status,
                               "quantity": "1", "deal_quantity": "0"}))
        assert adapter.get_order(exchange_order_id="u").state is state

    def test_422_detail(self, canned, invex_keys):
        adapter = make_adapter("invex", api_secret=invex_keys[0])
        canned(adapter, (422, {"detail": [{"loc": ["body", "quantity"],
                                           "msg": "below the minimum order value",
                                           "type": "value_error.minimum_order_value"}]}))
        with pytest.raises(RejectedError) as caught:
            adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D("1"),
                                             "c3", price=D("10000000000")))
        assert caught.value.code == "value_error.minimum_order_value"
        assert "body.quantity: below the minimum order value" in str(caught.value)

    def test_accounts_one_currency_per_call(self, canned, invex_keys):
        adapter = make_adapter("invex", api_secret=invex_keys[0], markets={
            k: v for k, v in make_adapter("invex").markets.items() if k == "BTC-IRR"})
        answers = {"IRR": {"currency": "IRR", "available": "900", "blocked": "100",
                           "total": "1000"},
                   "BTC": {"currency": "BTC", "available": "1.5", "blocked": "0",
                           "total": "1.5"}}
        canned(adapter, lambda req: (200, answers["IRR" if "currency=IRR" in req.url
                                                    else "BTC"]))
        balances = adapter.balances()
        assert balances["IRR"].total == D("1000") and balances["IRR"].locked == D("100")
        assert balances["BTC"].available == D("1.5")

    def test_without_private_key_is_authentication(self):
        adapter = make_adapter("invex")
        with pytest.raises(AuthenticationError, match="private key"):
            adapter.balances()
