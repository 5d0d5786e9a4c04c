"""Books in Redis: stored as strings, loaded lazily, exactly as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from exchanges.types import BookLevel, OrderBook
from trading.services.books import StoredLevels, book_from_json, book_to_json

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _book() -> OrderBook:
    return OrderBook(
        exchange="nobitex", market="BTC-IRR",
        bids=(BookLevel(Decimal("100.10"), Decimal("0.5")),
              BookLevel(Decimal("99"), Decimal("1.000000001"))),
        asks=(BookLevel(Decimal("101"), Decimal("2")),
              BookLevel(Decimal("1E+3"), Decimal("3"))),
        received_at=NOW, exchange_time=None,
    )


def test_a_stored_book_loads_equal_to_the_one_stored():
    book = _book()

    loaded, fetched_at = book_from_json(book_to_json(book, NOW))

    assert loaded == book and book == loaded
    assert fetched_at == NOW
    assert list(loaded.bids) == list(book.bids)
    assert loaded.bids[1].amount == Decimal("1.000000001")  # exact, no float on the way
    assert loaded.asks[1].price == Decimal("1000")


def test_stored_levels_read_one_level_without_converting_the_side():
    levels = StoredLevels([["101", "2"], ["102", "3"], ["103", "4"]])

    assert levels[0] == BookLevel(Decimal("101"), Decimal("2"))
    assert levels[-1].price == Decimal("103")
    assert len(levels) == 3 and levels
    assert levels._levels is None  # nothing else converted yet

    assert levels[1:] == (BookLevel(Decimal("102"), Decimal("3")),
                          BookLevel(Decimal("103"), Decimal("4")))
    assert [level.amount for level in levels] == [Decimal("2"), Decimal("3"), Decimal("4")]
    assert not StoredLevels([])
