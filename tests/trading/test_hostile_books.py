"""Hostile books (issue 10 item 1): a crossed or swapped book served by the
sandbox over HTTP (REST and websocket) opens no opportunity and places no
order, and its rejection is recorded where an operator sees it."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts
from tests.trading.streaming_helpers import eventually, running_streamer
from trading.detection.rejections import rejections_recent
from trading.models import Opportunity, Order, RiskSettings
from trading.services.book_sanity import book_rejection_counts, book_rejections_clear
from trading.services.books import STREAM, books_latest
from trading.services.detection import opportunities_detect
from trading.services.polling import balances_refresh, orderbooks_poll

D = Decimal


@pytest.fixture(autouse=True)
def clean_rejections():
    book_rejections_clear()
    yield
    book_rejections_clear()


def sandbox_faults(sandbox, spec: str) -> None:
    """Through the sandbox's control endpoint, as an operator's script would."""
    answer = requests.post(f"{sandbox.url}/_sandbox/faults",
                           json={"spec": spec, "replace": True}, timeout=5)
    assert answer.status_code == 200, answer.text


def sandbox_orders(sandbox) -> int:
    return sum(len(ex.get("orders") or []) for ex in sandbox.state()["exchanges"].values())


def detect() -> list[int]:
    """One detection cycle; the ids of the opportunities it opened."""
    return opportunities_detect(enqueue_execution=lambda _id: None).opportunity_ids


def test_a_crossed_nobitex_book_opens_nothing_places_nothing_and_is_recorded(trading_setup,
                                                                              admin_client):
    sandbox = trading_setup
    orderbooks_poll(request_detection=lambda: None)
    balances_refresh()
    assert detect() == []  # the static books do not cross after fees

    # When Nobitex serves one bid 3 % above its own best ask
    sandbox_faults(sandbox, "nobitex:crossed=3")
    served = requests.get(f"{sandbox.base_url('nobitex')}/v3/orderbook/BTCIRT", timeout=5).json()
    assert D(served["bids"][0][0]) > D(served["asks"][0][0])
    orderbooks_poll(request_detection=lambda: None)

    # Then detection opens nothing (the phantom bid would pay 3 % less fees)
    assert detect() == []
    assert Opportunity.objects.count() == 0 and Order.objects.count() == 0
    assert sandbox_orders(sandbox) == 0
    # and the book is stored flagged, the rejection counted per exchange and market
    stored = books_latest()[("nobitex", "BTC-IRR")]
    assert stored.rejected.startswith("crossed: best bid")
    counts = book_rejection_counts()
    assert {("nobitex", m) for m in ("BTC-IRR", "ETH-IRR", "USDT-IRR")} <= set(counts)
    assert not any(ex != "nobitex" for ex, _ in counts)
    # in detection's refusals, with the pair it refused
    line = next(x for x in rejections_recent().lines if x.reason == "bad_book")
    assert "nobitex" in (line.last["buy_exchange"], line.last["sell_exchange"])
    assert "crossed" in str(line.last["figures"])
    # and on the control panel
    page = admin_client.get("/admin/control/").content.decode()
    assert 'id="book-rejection-nobitex-BTC-IRR"' in page and "crossed: best bid" in page
    assert "bad_book" in page

    # When the fault is lifted, the sound book trades again as before
    sandbox_faults(sandbox, "")
    orderbooks_poll(request_detection=lambda: None)
    assert books_latest()[("nobitex", "BTC-IRR")].rejected == ""


def test_a_swapped_book_opens_nothing_and_places_nothing(trading_setup):
    sandbox = trading_setup
    # Nobitex's own spread wide (9.9e10 / 10.1e10 rial; its wire is in rial): with
    # bids and asks swapped, its "asks" (the real bids) sit below the others' bids
    sandbox.set_book("nobitex", "BTCIRT", asks=[["101000000000", "1"]],
                     bids=[["99000000000", "1"], ["98000000000", "1"]])
    orderbooks_poll(request_detection=lambda: None)
    balances_refresh()
    assert detect() == []

    sandbox_faults(sandbox, "nobitex:swapped=1")
    orderbooks_poll(request_detection=lambda: None)
    assert detect() == []
    assert Opportunity.objects.count() == 0 and sandbox_orders(sandbox) == 0
    assert books_latest()[("nobitex", "BTC-IRR")].rejected.startswith("crossed")
    assert book_rejection_counts()[("nobitex", "BTC-IRR")] >= 1
    assert rejections_recent().counts.get("bad_book", 0) >= 1


def test_a_book_far_from_the_other_exchanges_is_refused(trading_setup):
    sandbox = trading_setup
    RiskSettings.objects.update(max_book_deviation_pct=D("5"))
    # Wallex (toman) a sound book, 8 % above the others: a cross no one could fill
    sandbox.set_book("wallex", "BTCTMN", asks=[["10900000000", "1"]],
                     bids=[["10800000000", "1"]])
    orderbooks_poll(request_detection=lambda: None)
    balances_refresh()
    assert detect() == []
    assert Opportunity.objects.count() == 0
    counts = book_rejection_counts()
    assert counts.get(("wallex", "BTC-IRR"), 0) >= 1
    assert ("nobitex", "BTC-IRR") not in counts and ("invex", "BTC-IRR") not in counts
    line = next(x for x in rejections_recent().lines if x.reason == "bad_book")
    assert "deviates" in str(line.last["figures"])

    # With the check off, the same books trade (the test can fail)
    RiskSettings.objects.update(max_book_deviation_pct=D("0"))
    assert len(detect()) == 1


# -- streamed ------------------------------------------------------------------------


@pytest.fixture
def trading_sandbox(sandbox_credentials):
    """The trading fixtures' sandbox, with its websockets."""
    server = SandboxServer(port=0, scenario="static", accounts=demo_accounts(sandbox_credentials),
                           rate_limits=False, invex_cancel_delay=0.05, hang_seconds=3,
                           stream_port=0, stream_options={"ping_interval": 0.5,
                                                          "pong_timeout": 1.0}).start()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_a_streamed_crossed_book_is_rejected_too(trading_setup, settings):
    sandbox = trading_setup
    settings.STREAM_URLS = {ex: sandbox.stream_url(ex) for ex in ("nobitex", "wallex")}
    orderbooks_poll(request_detection=lambda: None)
    balances_refresh()
    with running_streamer():
        eventually(lambda: books_latest().get(("nobitex", "BTC-IRR")) is not None
                   and books_latest()[("nobitex", "BTC-IRR")].source == STREAM,
                   what="nobitex's streamed book")
        sandbox_faults(sandbox, "nobitex:crossed=3")
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].rejected,
                   what="the pushed crossed book stored flagged")
        stored = books_latest()[("nobitex", "BTC-IRR")]
        assert stored.source == STREAM and stored.rejected.startswith("crossed")
        assert detect() == []
        assert Opportunity.objects.count() == 0 and sandbox_orders(sandbox) == 0
        assert book_rejection_counts().get(("nobitex", "BTC-IRR"), 0) >= 1
