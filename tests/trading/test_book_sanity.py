"""The sanity rules of one book, and of a book against the other exchanges'."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchanges.types import BookLevel, OrderBook
from trading.services.book_sanity import MidQuote, book_defect, books_deviating

D = Decimal
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def book(bids, asks) -> OrderBook:
    return OrderBook("nobitex", "BTC-IRR",
                     tuple(BookLevel(D(p), D(a)) for p, a in bids),
                     tuple(BookLevel(D(p), D(a)) for p, a in asks), NOW)


@pytest.mark.parametrize(("bids", "asks", "kind"), [
    ([("100", "1")], [("100", "1")], "crossed"),  # at the ask is crossed too
    ([("103", "1"), ("99", "1")], [("100", "1")], "crossed"),
    ([("101", "1"), ("99", "1")], [("99", "1"), ("101", "1")], "crossed"),  # swapped
    ([("99", "1"), ("99", "2")], [("101", "1")], "out_of_order"),
    ([("99", "1"), ("98", "1")], [("101", "1"), ("100.5", "1")], "out_of_order"),
    ([("99", "0")], [("101", "1")], "non_positive"),
    ([("-1", "1")], [("101", "1")], "non_positive"),
])
def test_a_defective_book_says_what_is_wrong(bids, asks, kind):
    assert book_defect(book(bids, asks)).startswith(f"{kind}:")


def test_a_sound_book_or_one_side_empty_passes():
    assert book_defect(book([("99", "1"), ("98", "2")], [("101", "1"), ("102", "3")])) is None
    assert book_defect(book([], [("101", "1")])) is None


def quotes(**mids) -> list[MidQuote]:
    return [MidQuote(ex, "BTC-IRR", D(mid)) for ex, mid in mids.items()]


def test_only_the_book_far_off_is_refused_not_the_one_it_pulled():
    # invex 12 % above: the plain median of nobitex's others (invex, wallex) is 6 % off
    out = books_deviating(quotes(nobitex="100", wallex="100", invex="112"), max_pct=D("5"))
    assert list(out) == [("invex", "BTC-IRR")]
    assert out[("invex", "BTC-IRR")].startswith("deviates: mid 112 is 12% from")


def test_two_books_apart_are_both_refused_and_one_alone_is_not_judged():
    out = books_deviating(quotes(nobitex="100", wallex="110"), max_pct=D("5"))
    assert set(out) == {("nobitex", "BTC-IRR"), ("wallex", "BTC-IRR")}
    assert books_deviating(quotes(nobitex="100"), max_pct=D("5")) == {}
    assert books_deviating(quotes(nobitex="100", wallex="104.9"), max_pct=D("5")) == {}
    assert books_deviating(quotes(nobitex="100", wallex="200"), max_pct=D("0")) == {}
