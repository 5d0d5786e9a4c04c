"""Failure classification: what each kind of failure becomes, place vs read."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from exchanges.errors import (
    AmbiguousOrderError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from exchanges.types import OrderRequest, OrderType, Side
from tests.exchanges.conftest import make_adapter

BOOK = {"status": "ok", "lastUpdate": 1, "asks": [["20", "1"]], "bids": [["10", "1"]]}
ORDER = {"status": "ok", "order": {"id": 1, "amount": "0.01", "price": "10000000000",
                                   "status": "Active", "matchedAmount": "0",
                                   "clientOrderId": "cid-9"}}


def place(adapter):
    return adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT,
                                            Decimal("0.01"), "cid-9", Decimal("10000000000")))


def not_connected():
    return requests.ConnectionError(NewConnectionError(None, "refused"))


@pytest.mark.parametrize("failure", [
    (502, "<html>bad gateway</html>"),
    (200, '{"status": "ok", "ord'),
    requests.ReadTimeout("read timed out"),
    requests.ConnectionError("Connection aborted: RemoteDisconnected"),
])
def test_place_without_answer_is_ambiguous_and_not_resent(canned, failure):
    adapter = make_adapter("nobitex")
    transport = canned(adapter, failure)
    with pytest.raises(AmbiguousOrderError) as caught:
        place(adapter)
    assert caught.value.client_order_id == "cid-9"
    assert "cid-9" in str(caught.value) and "nobitex" in str(caught.value)
    assert len(transport.sent) == 1


def test_place_answer_missing_fields_is_ambiguous(canned):
    adapter = make_adapter("nobitex")
    canned(adapter, (200, {"status": "ok"}))
    with pytest.raises(AmbiguousOrderError):
        place(adapter)


@pytest.mark.parametrize("failure", [requests.ConnectTimeout("connect"), not_connected()])
def test_place_never_sent_is_transient_not_ambiguous(canned, failure):
    adapter = make_adapter("nobitex")
    transport = canned(adapter, failure)
    with pytest.raises(TransientError) as caught:
        place(adapter)
    assert not isinstance(caught.value, AmbiguousOrderError)
    assert "not sent" in str(caught.value)
    assert len(transport.sent) == 1


def test_reads_are_retried_then_succeed(canned):
    adapter = make_adapter("nobitex", read_retries=2)
    transport = canned(adapter, (503, "down"), requests.ReadTimeout("slow"), (200, BOOK))
    book = adapter.get_order_book("BTC-IRR")
    assert book.best_bid.price == Decimal("10")
    assert len(transport.sent) == 3


def test_reads_give_up_as_transient(canned):
    adapter = make_adapter("nobitex", read_retries=1)
    transport = canned(adapter, (500, "boom"))
    with pytest.raises(TransientError, match="HTTP 500"):
        adapter.get_order_book("BTC-IRR")
    assert len(transport.sent) == 2


def test_cancel_is_retried(canned):
    adapter = make_adapter("nobitex", read_retries=1)
    transport = canned(adapter, requests.ReadTimeout("slow"),
                       (200, {"status": "ok", "updatedStatus": "Canceled"}))
    adapter.cancel_order(exchange_order_id="1")
    assert len(transport.sent) == 2
    assert transport.body() == {"order": 1, "status": "canceled"}


def test_rejections_are_not_retried(canned):
    adapter = make_adapter("nobitex")
    transport = canned(adapter, (400, {"status": "failed", "code": "InvalidSymbol",
                                       "message": "Invalid symbol"}))
    with pytest.raises(RejectedError):
        adapter.get_order_book("BTC-IRR")
    assert len(transport.sent) == 1


def test_explicit_not_found_vs_bare_404(canned):
    adapter = make_adapter("nobitex")
    canned(adapter, (404, {"status": "failed", "code": "NotFound", "message": "Not found"}))
    with pytest.raises(NotFoundError):
        adapter.get_order(exchange_order_id="9")

    canned(adapter, (404, "<html>nginx</html>"))
    with pytest.raises(RejectedError) as caught:
        adapter.get_order(exchange_order_id="9")
    assert not isinstance(caught.value, NotFoundError)


def test_nobitex_not_found_by_client_id_needs_the_order_list_too(canned):
    """A client order id is looked up among open orders only: "not found" there
    is final only once the order list (status=all, details=2) agrees."""
    adapter = make_adapter("nobitex")
    transport = canned(adapter,
                       (404, {"status": "failed", "code": "NotFound", "message": "Not found"}),
                       (200, {"status": "ok", "orders": []}))
    assert adapter.find_order("cid-9") is None
    assert [r.path_url.split("?")[0] for r in transport.sent] == [
        "/market/orders/status", "/market/orders/list"]
    assert "details=2" in transport.sent[1].url and "status=all" in transport.sent[1].url

    transport = canned(adapter,
                       (404, {"status": "failed", "code": "NotFound", "message": "Not found"}),
                       (404, "<html>nginx</html>"))
    with pytest.raises(TransientError, match="could not be looked up"):
        adapter.find_order("cid-9")


def test_connection_errors_name_the_address(canned):
    adapter = make_adapter("nobitex", "http://exchange.invalid:8443/api", read_retries=0)
    canned(adapter, not_connected())
    with pytest.raises(TransientError, match="could not connect to "
                                             "http://exchange.invalid:8443/api/v3/orderbook/BTCIRT"):
        adapter.get_order_book("BTC-IRR")
    canned(adapter, requests.ReadTimeout("slow"))
    with pytest.raises(TransientError, match="no answer from http://exchange.invalid:8443/api/"
                                             "users/wallets/list within"):
        adapter.balances()
    with_password = make_adapter("nobitex", "http://ops:hunter2@exchange.invalid/api",
                                 read_retries=0)
    canned(with_password, not_connected())
    with pytest.raises(TransientError) as caught:
        with_password.get_order_book("BTC-IRR")
    assert "hunter2" not in str(caught.value)
    assert "http://exchange.invalid/api/v3/orderbook/BTCIRT" in str(caught.value)


def test_find_order_returns_the_order(canned):
    adapter = make_adapter("nobitex")
    canned(adapter, (200, ORDER))
    assert adapter.find_order("cid-9").exchange_order_id == "1"


def test_errors_and_repr_never_show_credentials(canned):
    adapter = make_adapter("nobitex")
    canned(adapter, (401, {"status": "failed", "code": "InvalidToken", "message": "bad"}))
    with pytest.raises(Exception) as caught:
        adapter.balances()
    assert adapter.config.api_key not in str(caught.value)
    assert adapter.config.api_key not in repr(caught.value)
    assert adapter.config.api_key not in repr(adapter) + repr(adapter.config)
