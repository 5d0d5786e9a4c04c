"""The streamer against the sandbox's websockets, with the real Redis and database:
books stored with their source, polling for what the streams do not keep fresh,
coalesced detection, fencing, and what the operator sees."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from arbsite.redis import redis_client
from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts
from tests.trading.streaming_helpers import Enqueued, eventually, running_streamer
from trading.services.books import STREAM, books_latest
from trading.services.detection_trigger import detection_request, detection_run, pending_key
from trading.services.polling import orderbooks_poll
from trading.services.stream_status import books_kept_by_streams, streams_status
from trading.services.streaming import fence_key, lease_key

pytestmark = pytest.mark.django_db(transaction=True)

STREAMED = {(ex, m) for ex in ("nobitex", "wallex") for m in ("BTC-IRR", "ETH-IRR", "USDT-IRR")}


@pytest.fixture
def trading_sandbox(sandbox_credentials):
    """The trading fixtures' sandbox, with its websockets (fast pings)."""
    server = SandboxServer(port=0, scenario="static", accounts=demo_accounts(sandbox_credentials),
                           rate_limits=False, invex_cancel_delay=0.05, hang_seconds=3,
                           stream_port=0, stream_options={"ping_interval": 0.5,
                                                          "pong_timeout": 1.0}).start()
    yield server
    server.stop()


@pytest.fixture
def streaming(trading_setup, settings):
    settings.STREAM_URLS = {ex: trading_setup.stream_url(ex) for ex in ("nobitex", "wallex")}
    return trading_setup


def streamed_books() -> set[tuple[str, str]]:
    return {k for k, cached in books_latest().items() if cached.source == STREAM}


def test_streamed_books_are_stored_and_polling_takes_over_while_a_stream_is_down(streaming):
    with running_streamer():
        # Given both streams up: their books are stored as streamed, the poller skips them
        eventually(lambda: streamed_books() == STREAMED, what="every streamed book stored")
        eventually(lambda: books_kept_by_streams() == STREAMED)
        report = orderbooks_poll(request_detection=lambda: None)
        assert report.fetched == 3  # Invex only
        nobitex = books_latest()[("nobitex", "BTC-IRR")]
        assert nobitex.book.exchange_time is not None and nobitex.fetched_at is not None

        # When Nobitex's stream goes down, the poller fetches its books again
        streaming.streams.set_faults("nobitex:down=1")
        eventually(lambda: not any(ex == "nobitex" for ex, _ in books_kept_by_streams()),
                   what="nobitex no longer kept by its stream")
        [health] = [h for h in streams_status() if h.exchange == "nobitex"]
        assert not health.connected
        assert sorted(health.polled_books) == ["BTC-IRR", "ETH-IRR", "USDT-IRR"]
        report = orderbooks_poll(request_detection=lambda: None)
        assert report.fetched == 6
        assert books_latest()[("nobitex", "BTC-IRR")].source == "poll"

        # And when it is back, the stream keeps them again
        streaming.streams.clear_faults()
        eventually(lambda: books_kept_by_streams() == STREAMED, what="the stream back")
        streaming.set_book("nobitex", "BTCIRT", asks=[["100000000010", "1"]],
                           bids=[["99000000000", "1"]])
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].source == STREAM)
        assert orderbooks_poll(request_detection=lambda: None).fetched == 3


def test_a_burst_of_changes_costs_one_detection_run(streaming):
    enqueued = Enqueued()
    with running_streamer(enqueue=enqueued):
        eventually(lambda: streamed_books() == STREAMED)
        eventually(lambda: enqueued.count == 1, what="the first books requested detection")
        assert detection_run(detect=lambda: "ran") == ["ran"]  # the run clears the request

        # When a burst of changes arrives while no detection has run yet
        for i in range(25):
            streaming.set_book("nobitex", "BTCIRT", asks=[[str(100000000010 + i), "1"]],
                               bids=[["99000000000", "1"]])
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].book.asks[0].price
                   == 100000000034, what="the last change stored")

        # Then one detection was enqueued for all of them, and one run reads them all
        assert enqueued.count == 2
        seen = []
        assert len(detection_run(detect=lambda: seen.append(
            books_latest()[("nobitex", "BTC-IRR")].book.asks[0].price))) == 1
        assert seen == [100000000034]

        # And the next change asks again
        streaming.set_book("nobitex", "BTCIRT", asks=[["100000000099", "1"]],
                           bids=[["99000000000", "1"]])
        eventually(lambda: enqueued.count == 3)


def test_a_change_during_a_detection_run_gets_a_run_of_its_own(db):
    enqueued = Enqueued()
    runs = []

    def detect():
        runs.append(len(runs))
        if len(runs) == 1:  # a book changes while the first run is under way
            assert detection_request(enqueue=enqueued)
            assert not detection_request(enqueue=enqueued)  # already pending
        return len(runs)

    assert detection_run(detect=detect) == [1, 2]
    assert enqueued.count == 1
    assert not redis_client().exists(pending_key())


def test_a_writer_whose_token_is_stale_writes_nothing(streaming):
    with running_streamer(exchanges=["nobitex"]):
        eventually(lambda: ("nobitex", "BTC-IRR") in streamed_books())
        client = redis_client()
        first = int(client.get(lease_key("nobitex")).split()[0])
        before = books_latest()[("nobitex", "BTC-IRR")].book

        # When another streamer takes the lease (as after a pause longer than the lease)
        token = client.incr(fence_key("nobitex"))
        client.set(lease_key("nobitex"), f"{token} intruder", px=3000)
        sent = streaming.streams.state()["exchanges"]["nobitex"].get("pushes_sent", 0)
        streaming.set_book("nobitex", "BTCIRT", asks=[["100000000777", "1"]],
                           bids=[["99000000000", "1"]])

        # Then the old holder's write of that push is refused: the book is not changed
        eventually(lambda: streaming.streams.state()["exchanges"]["nobitex"]
                   .get("pushes_sent", 0) > sent, what="the push sent")
        time.sleep(0.5)
        assert books_latest()[("nobitex", "BTC-IRR")].book.asks[0].price == before.asks[0].price

        # And once the intruder's lease has expired, ours is taken again with a newer token
        def ours() -> bool:
            value = client.get(lease_key("nobitex"))
            return bool(value and value.endswith(" test") and int(value.split()[0]) > token)

        eventually(ours, what="the lease taken again")
        assert token > first
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].book.asks[0].price
                   == 100000000777, what="the new holder's snapshot")


def test_the_operator_sees_each_stream(streaming, admin_client: Client):
    with running_streamer():
        eventually(lambda: all(h.connected and h.last_message_age_seconds is not None
                               for h in streams_status()), what="both connected, talking")
        streaming.streams.drop("wallex")
        eventually(lambda: [h for h in streams_status() if h.exchange == "wallex"][0]
                   .reconnects_last_hour >= 1, what="the reconnect counted")
        body = Client().get("/healthz").json()
        streams = body["streams"]
        assert set(streams) == {"nobitex", "wallex"}
        assert streams["nobitex"]["connected"] is True
        assert streams["nobitex"]["last_message_age_seconds"] < 5, streams
        assert streams["wallex"]["reconnects_last_hour"] >= 1
        assert streams["nobitex"]["polled_books"] == []
        page = admin_client.get("/admin/control/").content.decode()
        assert "Streams" in page and "wallex" in page
