"""The stream clients against the sandbox's websockets, over real connections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import requests

from exchanges.types import BookLevel

NOBITEX_ASKS = [["1000100", "0.5"], ["1000200", "1.25"]]
NOBITEX_BIDS = [["999900", "0.75"], ["999800", "2"]]


def test_nobitex_rest_snapshot_first_then_every_change_pushed(stream_sandbox, run_stream):
    # Given a book set on the sandbox before the stream connects
    stream_sandbox.set_book("nobitex", "USDTIRT", asks=NOBITEX_ASKS, bids=NOBITEX_BIDS)
    run = run_stream("nobitex")

    # Then the first book comes from the REST snapshot (no push until a change)
    run.wait(lambda: run.book("USDT-IRR") is not None, what="a USDT-IRR book")
    first = [u for u in run.updates if u.market == "USDT-IRR"][0]
    assert first.via == "snapshot"
    assert first.book.asks[0] == BookLevel(D("1000100"), D("0.5"))
    assert first.book.exchange_time is not None

    # When the book changes, the change is pushed, exactly, with a newer lastUpdate
    stream_sandbox.set_book("nobitex", "USDTIRT", asks=[["1000050", "0.3"]],
                            bids=[["999950", "0.123456"]])
    run.wait(lambda: any(u.via == "push" and u.market == "USDT-IRR" for u in run.updates),
             what="a push")
    pushed = [u for u in run.pushed() if u.market == "USDT-IRR"][-1]
    assert pushed.changed
    assert pushed.book.asks == (BookLevel(D("1000050"), D("0.3")),)
    assert pushed.book.bids == (BookLevel(D("999950"), D("0.123456")),)
    assert pushed.book.exchange_time >= first.book.exchange_time
    assert pushed.book.received_at > first.book.received_at
    assert run.stats.malformed == 0 and run.stats.reconnects == 0


def test_nobitex_pings_are_answered_and_the_connection_stays(stream_sandbox, run_stream):
    run = run_stream("nobitex", silence_limit=5)
    run.wait(lambda: run.stats.pings >= 5, what="five pings")

    counters = stream_sandbox.streams.state()["exchanges"]["nobitex"]
    assert counters["pongs_received"] >= 4
    assert counters.get("dropped_no_pong", 0) == 0
    assert run.stats.reconnects == 0 and run.stats.connects == 1


def test_wallex_sides_joined_in_rial_exactly(stream_sandbox, run_stream):
    # Toman prices with decimals, sent by the sandbox as JSON numbers
    stream_sandbox.set_book("wallex", "BTCTMN", asks=[["10010000000.5", "0.123456"]],
                            bids=[["9990000000.25", "255.75"]])
    run = run_stream("wallex")
    run.wait(lambda: run.book("BTC-IRR") is not None, what="a BTC-IRR book")

    # When only the bids change, one one-sided message comes and is joined with the asks
    stream_sandbox.set_book("wallex", "BTCTMN", asks=[["10010000000.5", "0.123456"]],
                            bids=[["9990000000.3", "0.000001"], ["9980000000", "1.1"]])
    run.wait(lambda: run.pushed(), what="a push")
    book = run.pushed()[-1].book
    assert book.bids == (BookLevel(D("99900000003"), D("0.000001")),
                         BookLevel(D("99800000000"), D("1.1")))
    assert book.asks == (BookLevel(D("100100000005"), D("0.123456")),)  # toman × 10 = rial
    assert all(isinstance(level.price, D) for level in book.bids + book.asks)
    assert len(run.pushed()) == 1  # asks unchanged: no message for them

    # And the rial book is the one the REST adapter reads
    from tests.exchanges.conftest import make_adapter

    rest = make_adapter("wallex", stream_sandbox.base_url("wallex")).get_order_book("BTC-IRR")
    assert (rest.bids, rest.asks) == (book.bids, book.asks)


def test_wallex_book_is_as_old_as_its_older_side(stream_sandbox, run_stream):
    run = run_stream("wallex")
    run.wait(lambda: run.book("BTC-IRR") is not None)
    snapshot_at = run.book("BTC-IRR").received_at
    stream_sandbox.set_book("wallex", "BTCTMN", asks=[["10010000000", "1"]],
                            bids=[["9990000000", "1"]])  # both sides change
    run.wait(lambda: len([u for u in run.pushed() if u.market == "BTC-IRR"]) >= 2)
    asks_at = run.stream.state["BTC-IRR"].at["asks"]
    stream_sandbox.set_book("wallex", "BTCTMN", asks=[["10010000000", "1"]],
                            bids=[["9990000000", "2"]])  # bids only
    run.wait(lambda: len([u for u in run.pushed() if u.market == "BTC-IRR"]) >= 3)
    latest = run.pushed()[-1].book
    assert latest.bids[0].amount == D("2")
    assert snapshot_at < asks_at == latest.received_at  # the older side dates the book


def test_reconnects_after_a_drop_and_resubscribes(stream_sandbox, run_stream):
    run = run_stream("nobitex")
    run.wait(lambda: run.stats.connected)

    requests.post(f"{stream_sandbox.url}/_sandbox/streams", json={"drop": "nobitex"}, timeout=5)

    run.wait(lambda: run.stats.reconnects >= 1 and run.stats.connected, what="reconnected")
    stream_sandbox.set_book("nobitex", "BTCIRT", asks=[["100000000010", "1"]],
                            bids=[["99999999990", "1"]])
    run.wait(lambda: any(u.market == "BTC-IRR" and u.via == "push" for u in run.updates),
             what="a push after resubscribing")
    run.wait(lambda: run.stats.snapshots >= 4, what="REST snapshots again after reconnecting")


def test_reconnects_after_silence(stream_sandbox, run_stream):
    run = run_stream("nobitex", silence_limit=1.0)
    run.wait(lambda: run.stats.connected)

    stream_sandbox.streams.set_faults("nobitex:silence=1")  # a hung server: nothing at all
    run.wait(lambda: run.stats.reconnects >= 1, what="the silent connection given up")
    assert "no frame" in run.stats.last_error
    stream_sandbox.streams.clear_faults()
    run.wait(lambda: run.stats.connected, what="connected again")


def test_reconnects_after_a_missed_pong(stream_sandbox, run_stream):
    run = run_stream("nobitex", silence_limit=5)
    run.wait(lambda: run.stats.connected)

    stream_sandbox.streams.set_faults("nobitex:pong=ignore")  # our pongs count for nothing
    run.wait(lambda: run.stats.reconnects >= 1, what="dropped for a missing pong")
    assert stream_sandbox.streams.state()["exchanges"]["nobitex"]["dropped_no_pong"] >= 1
    stream_sandbox.streams.clear_faults()
    run.wait(lambda: run.stats.connected)


def test_reconnects_when_the_server_stops_pinging(stream_sandbox, run_stream):
    run = run_stream("nobitex", silence_limit=1.0)
    run.wait(lambda: run.stats.connected)

    stream_sandbox.streams.set_faults("nobitex:ping=stop")
    run.wait(lambda: run.stats.reconnects >= 1, what="no ping: given up")


def test_wallex_reconnects_when_its_pong_is_ignored(stream_sandbox, run_stream):
    run = run_stream("wallex", silence_limit=5)
    run.wait(lambda: run.stats.connected)

    stream_sandbox.streams.set_faults("wallex:pong=ignore")
    run.wait(lambda: run.stats.reconnects >= 1, what="dropped for a missing pong")


def test_malformed_frames_are_counted_never_fatal(stream_sandbox, run_stream):
    stream_sandbox.streams.set_faults("all:malformed=1")
    nobitex, wallex = run_stream("nobitex", silence_limit=5), run_stream("wallex", silence_limit=5)
    nobitex.wait(lambda: nobitex.stats.connected and wallex.stats.connected)

    for i in range(3):
        stream_sandbox.set_book("nobitex", "BTCIRT", asks=[[str(100000000010 + i), "1"]],
                                bids=[["99999999990", "1"]])
        stream_sandbox.set_book("wallex", "BTCTMN", asks=[[str(10000000010 + i), "1"]],
                                bids=[["9999999990", "1"]])
    nobitex.wait(lambda: nobitex.stats.malformed >= 3 and wallex.stats.malformed >= 3)
    nobitex.wait(lambda: nobitex.book("BTC-IRR").asks[0].price == D("100000000012"))
    wallex.wait(lambda: wallex.book("BTC-IRR").asks[0].price == D("100000000120"))
    assert nobitex.stats.reconnects == 0 and wallex.stats.reconnects == 0


def test_duplicates_dropped_one_update_per_change(stream_sandbox, run_stream):
    stream_sandbox.streams.set_faults("nobitex:duplicate=1")
    run = run_stream("nobitex")
    run.wait(lambda: run.stats.connected and run.stats.snapshots >= 2)

    for i in range(4):
        stream_sandbox.set_book("nobitex", "BTCIRT", asks=[[str(100000000010 + i), "1"]],
                                bids=[["99999999990", "1"]])
    run.wait(lambda: run.stats.duplicates >= 4, what="four duplicates")
    pushes = [u for u in run.pushed() if u.market == "BTC-IRR"]
    assert [u.book.asks[0].price for u in pushes] == [D(100000000010 + i) for i in range(4)]


def test_out_of_order_pushes_never_take_the_book_back(stream_sandbox, run_stream):
    stream_sandbox.streams.set_faults("nobitex:reorder=0.5")
    run = run_stream("nobitex")
    run.wait(lambda: run.stats.connected and run.stats.snapshots >= 2)

    for i in range(30):
        stream_sandbox.set_book("nobitex", "BTCIRT", asks=[[str(100000000010 + i), "1"]],
                                bids=[["99999999990", "1"]])
    run.wait(lambda: stream_sandbox.streams.state()["exchanges"]["nobitex"]
             .get("pushes_sent", 0) >= 30 - stream_sandbox.streams.state()["exchanges"]
             ["nobitex"].get("reordered", 0), what="the pushes sent")
    stream_sandbox.streams.clear_faults()
    stream_sandbox.set_book("nobitex", "BTCIRT", asks=[["100000000100", "1"]],
                            bids=[["99999999990", "1"]])
    run.wait(lambda: run.book("BTC-IRR").asks[0].price == D("100000000100"))
    prices = [u.book.asks[0].price for u in run.pushed() if u.market == "BTC-IRR"]
    assert run.stats.out_of_order >= 1, stream_sandbox.streams.state()
    assert prices == sorted(prices)  # never back to an older book


def test_wallex_torn_join_is_held_back_until_the_other_side_comes(stream_sandbox, run_stream):
    # Each Wallex message carries one side: when the market moves up, the new
    # bids come first and cross the old asks for a moment. That join is not a
    # book the exchange served: it is never published; the asks that follow heal it.
    stream_sandbox.set_book("wallex", "BTCTMN", asks=[["10010000000", "1"]],
                            bids=[["9990000000", "1"]])
    run = run_stream("wallex")
    run.wait(lambda: run.book("BTC-IRR") is not None, what="a BTC-IRR book")
    state = run.stream.state["BTC-IRR"]
    before = len(run.pushed())

    state.push("bids", [{"price": "10020000000", "quantity": "1"}], datetime.now(UTC))
    assert state.book.bids[0].price == D("99900000000")  # the torn join is not the book
    stream_sandbox.set_book("wallex", "BTCTMN", asks=[["10030000000", "1"]],
                            bids=[["10020000000", "1"]])  # the market, both sides moved up
    run.wait(lambda: run.book("BTC-IRR").asks[0].price == D("100300000000"),
             what="the healed book")
    assert all(u.book.bids[0].price < u.book.asks[0].price for u in run.pushed()[before:])


def test_wallex_book_that_stays_crossed_is_published_for_the_sanity_check(stream_sandbox,
                                                                         run_stream):
    run = run_stream("wallex")
    run.wait(lambda: run.book("BTC-IRR") is not None, what="a BTC-IRR book")
    state = run.stream.state["BTC-IRR"]
    t0 = datetime.now(UTC)
    crossed_bids = [{"price": "10050000000", "quantity": "1"}]
    asks = [{"price": "10040000000", "quantity": "1"}]
    assert not state.push("bids", crossed_bids, t0).applied  # crossed: held back
    assert not state.push("asks", asks, t0 + timedelta(milliseconds=5)).applied  # still
    outcome = state.push("bids", [{"price": "10050000000", "quantity": "2"}],
                         t0 + timedelta(milliseconds=10))
    assert outcome.applied  # both sides came again since, still crossed: the exchange's book
    assert state.book.bids[0].price >= state.book.asks[0].price
