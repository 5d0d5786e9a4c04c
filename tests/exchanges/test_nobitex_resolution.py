"""Nobitex: resolving a lost place answer.

A lookup by ``clientOrderId`` searches open orders only [doc: nobitex/docs-api
docusaurus/docs/market-trade.md, "مشاهده وضعیت سفارش" note 3], so "not found"
there proves nothing for an order that filled at once. The order list
(``status=all``, ``details=2``) settles it: matched by id, by client order id
where rows carry it, else by side, market, amount, price and time; never by
a guess between two; "not found" only when every search answered explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from exchanges.errors import AmbiguousOrderError, TransientError
from exchanges.states import OrderState
from exchanges.types import OrderRef, OrderRequest, OrderType, Side

D = Decimal
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOT_FOUND = (404, {"status": "failed", "code": "NotFound", "message": "Not found"})
STATUS, LIST = ("POST", "/market/orders/status"), ("GET", "/market/orders/list")


def row(order_id: int, *, at: datetime = NOW, side: str = "buy", amount: str = "0.001",
        price: str = "95000000000", status: str = "Done", client_id: str | None = "absent",
        **extra) -> dict:
    """An order-list row with details=2; ``client_id="absent"``: no clientOrderId key."""
    data = {"id": order_id, "type": side, "execution": "Limit", "srcCurrency": "Bitcoin",
            "dstCurrency": "﷼", "price": price, "amount": amount,
            "matchedAmount": amount if status == "Done" else "0", "status": status,
            "fee": "0", "averagePrice": price, "created_at": at.isoformat(), **extra}
    if client_id != "absent":
        data["clientOrderId"] = client_id
    return data


def listing(*rows: dict) -> tuple[int, dict]:
    return 200, {"status": "ok", "orders": list(rows)}


def ref(**overrides) -> OrderRef:
    fields = dict(client_order_id="NE_LOST", market="BTC-IRR", created_at=NOW - timedelta(
        seconds=1), quantity=D("0.001"), side=Side.BUY, price=D("95000000000"))
    return OrderRef(**{**fields, **overrides})


@pytest.fixture
def nobitex(replay_adapter):
    return replay_adapter("nobitex")


def test_found_among_open_orders_by_client_id(replay, nobitex):
    replay.route(*STATUS, (200, {"status": "ok", "order": row(7, status="Active",
                                                              client_id="NE_LOST")}))
    result = nobitex.lookup_orders([ref()])
    assert result.found["NE_LOST"].state is OrderState.OPEN
    assert not replay.requests_to(*LIST)  # the open-order lookup settled it


def test_filled_order_found_in_the_list_by_client_id(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(row(8, client_id="SOMEONE_ELSE"), row(9, client_id="NE_LOST")))
    result = nobitex.lookup_orders([ref()])
    order = result.found["NE_LOST"]
    assert order.state is OrderState.FILLED and order.exchange_order_id == "9"
    (request,) = replay.requests_to(*LIST)
    assert request.query["status"] == "all" and request.query["details"] == "2"
    assert (request.query["srcCurrency"], request.query["dstCurrency"]) == ("btc", "rls")


def test_filled_order_found_by_what_it_was_when_rows_name_no_client_id(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(
        row(10, side="sell"),  # other side
        row(11, amount="0.002"),  # other amount
        row(12, price="96000000000"),  # other price
        row(13, at=NOW - timedelta(minutes=5)),  # long before it was written
        row(14),  # the one
    ))
    result = nobitex.lookup_orders([ref()], known_exchange_ids={"3", "4"})
    order = result.found["NE_LOST"]
    assert order.exchange_order_id == "14" and order.state is OrderState.FILLED
    assert order.client_order_id == "NE_LOST"  # named after the ref it was found for


def test_a_known_twin_is_never_taken_for_the_lost_order(replay, nobitex):
    """The lost order never reached Nobitex; an identical order of ours placed a
    second later did. Its row must not be adopted for the lost one."""
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(row(15)))
    result = nobitex.lookup_orders([ref()], known_exchange_ids={"15"})
    assert result.not_found == {"NE_LOST"}
    # A caller that cannot say which orders it knows gets no adoption by fields.
    result = nobitex.lookup_orders([ref()])
    assert not result.found and "known_exchange_ids" in result.errors["NE_LOST"]


def test_two_candidates_are_never_guessed_between(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(row(20), row(21, at=NOW + timedelta(seconds=2))))
    result = nobitex.lookup_orders([ref()], known_exchange_ids=set())
    assert not result.found and not result.not_found
    assert "refusing to guess" in result.errors["NE_LOST"]
    assert "20" in result.errors["NE_LOST"] and "21" in result.errors["NE_LOST"]


def test_a_candidate_is_not_adopted_without_knowing_what_the_order_was(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(row(30)))
    result = nobitex.lookup_orders([ref(side=None, price=None)], known_exchange_ids=set())
    assert "refusing to guess" in result.errors["NE_LOST"] and not result.found


def test_not_found_only_when_both_searches_answer_explicitly(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(row(40, side="sell"), row(41, at=NOW - timedelta(hours=2))))
    result = nobitex.lookup_orders([ref()])
    assert result.not_found == {"NE_LOST"} and not result.errors
    # Knowing only when it was written: an order in its window could be it...
    unknown = ref(side=None, price=None, quantity=None)
    assert "refusing to guess" in nobitex.lookup_orders([unknown]).errors["NE_LOST"]
    # ... and no order at all in its window proves it is not there.
    replay.route(*LIST, listing(row(41, at=NOW - timedelta(hours=2))))
    assert nobitex.lookup_orders([unknown]).not_found == {"NE_LOST"}


def test_an_unclassifiable_open_lookup_keeps_it_unknown(replay, nobitex):
    replay.route(*STATUS, (200, "<html>maintenance</html>"))
    replay.route(*LIST, listing())
    result = nobitex.lookup_orders([ref()])
    assert not result.not_found
    assert "did not answer" in result.errors["NE_LOST"]


@pytest.mark.parametrize("answer", [(502, "bad gateway"), (200, {"status": "ok"}),
                                    (200, {"status": "ok", "orders": [{"type": "buy"}]})])
def test_a_list_that_cannot_answer_keeps_it_unknown(replay, nobitex, answer):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, answer)
    result = nobitex.lookup_orders([ref()])
    assert not result.not_found and "NE_LOST" in result.errors


def test_paging_stops_at_the_oldest_order_and_a_short_page(replay, replay_adapter):
    adapter = replay_adapter("nobitex")
    full = [row(100 + i, side="sell", at=NOW - timedelta(seconds=i)) for i in range(100)]
    old = [row(300 + i, side="sell", at=NOW - timedelta(hours=3, seconds=i)) for i in range(100)]
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(*full), listing(*old), listing(*full))
    result = adapter.lookup_orders([ref()])
    assert result.not_found == {"NE_LOST"}
    assert [r.query["page"] for r in replay.requests_to(*LIST)] == ["1", "2"]


def test_a_list_longer_than_the_search_without_a_creation_time_is_no_proof(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(*[row(500 + i, side="sell") for i in range(100)]))
    result = nobitex.lookup_orders([ref(created_at=None)])
    assert not result.not_found and "search stopped" in result.errors["NE_LOST"]


@pytest.mark.parametrize(("variant", "answer", "explicit"), [
    ("failed", NOT_FOUND, True),
    ("failed", (404, {"detail": "Not found."}), True),  # DRF's own 404: always read
    ("drf", (404, {"detail": "Not found."}), True),
    ("failed", (404, ""), False),
    ("empty", (404, ""), True),
    ("empty", (200, {"status": "ok"}), True),
    ("empty", (200, ""), True),
    ("failed", (200, {"status": "ok"}), False),
    ("failed", (404, "<html>nginx</html>"), False),
])
def test_the_not_found_answer_variants(replay, replay_adapter, variant, answer, explicit):
    adapter = replay_adapter("nobitex", variants={"nobitex-not-found": variant})
    replay.route(*STATUS, answer)
    replay.route(*LIST, listing())
    result = adapter.lookup_orders([ref()])
    if explicit:
        assert result.not_found == {"NE_LOST"}
    else:
        assert not result.not_found and "NE_LOST" in result.errors


def test_orders_with_ids_are_read_from_one_list_page(replay, nobitex):
    refs = [ref(client_order_id=f"NE_{i}", exchange_order_id=str(60 + i)) for i in range(4)]
    replay.route(*LIST, listing(*[row(60 + i) for i in range(3)]))
    replay.route(*STATUS, NOT_FOUND)
    result = nobitex.lookup_orders(refs)
    assert {k: v.exchange_order_id for k, v in result.found.items()} == {
        "NE_0": "60", "NE_1": "61", "NE_2": "62"}
    assert result.not_found == {"NE_3"}  # asked by id: an explicit answer in every state
    assert len(replay.requests_to(*LIST)) == 1 and len(replay.requests_to(*STATUS)) == 1
    assert replay.requests_to(*STATUS)[0].json() == {"id": 63}


def test_find_order_and_get_order_use_the_same_resolution(replay, nobitex):
    replay.route(*STATUS, NOT_FOUND)
    replay.route(*LIST, listing(row(70, client_id="NE_LOST")))
    assert nobitex.find_order("NE_LOST").exchange_order_id == "70"
    assert nobitex.get_order(client_order_id="NE_LOST").state is OrderState.FILLED
    replay.route(*LIST, listing(row(71)))
    with pytest.raises(TransientError, match="refusing to guess"):  # needs the known ids
        nobitex.find_order("NE_LOST", ref=ref())


def test_against_the_sandbox_a_lost_answer_that_filled_is_found(sandbox_adapter, shared_sandbox):
    adapter = sandbox_adapter("nobitex")
    shared_sandbox.set_faults("nobitex:lost_answer=1")
    request = OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, D("0.001"), "NE_SANDBOX_LOST",
                           price=D("101000000000"))
    with pytest.raises(AmbiguousOrderError):
        adapter.place_order(request)
    shared_sandbox.clear_faults()
    result = adapter.lookup_orders([OrderRef(
        client_order_id="NE_SANDBOX_LOST", market="BTC-IRR", created_at=datetime.now(tz=UTC),
        quantity=D("0.001"), side=Side.BUY, price=D("101000000000"))], known_exchange_ids=set())
    assert result.found["NE_SANDBOX_LOST"].state is OrderState.FILLED
