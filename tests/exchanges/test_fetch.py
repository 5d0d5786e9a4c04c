"""Concurrent book fetching against the sandbox."""

from __future__ import annotations

import time

from exchanges.errors import TransientError
from exchanges.fetch import fetch_books
from exchanges.types import OrderBook
from tests.exchanges.conftest import MARKETS


def test_books_are_fetched_concurrently(shared_sandbox, sandbox_adapter):
    adapters = [sandbox_adapter(kind) for kind in ("nobitex", "wallex", "invex")]
    shared_sandbox.set_faults("all:latency=100")
    pairs = [(adapter, market) for adapter in adapters for market in MARKETS]

    started = time.monotonic()
    books = fetch_books(pairs)
    elapsed = time.monotonic() - started

    assert len(books) == 15
    assert all(isinstance(book, OrderBook) for book in books.values())
    wallex, nobitex = books[("wallex", "BTC-IRR")], books[("nobitex", "BTC-IRR")]
    assert wallex.best_ask.price == nobitex.best_ask.price  # both in rial
    assert elapsed < 0.6  # sequentially it would be at least 1.5 s


def test_one_failing_exchange_does_not_spoil_the_others(shared_sandbox, sandbox_adapter):
    adapters = [sandbox_adapter("nobitex", read_retries=0), sandbox_adapter("invex")]
    shared_sandbox.set_faults("nobitex:down=1")
    books = fetch_books([(a, "BTC-IRR") for a in adapters])
    assert isinstance(books[("nobitex", "BTC-IRR")], TransientError)
    assert isinstance(books[("invex", "BTC-IRR")], OrderBook)
