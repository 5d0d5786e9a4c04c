"""Detection records which source (stream or poll) each book of a decision came
from, and ``decisions_by_source`` counts the last hour's decisions per source and
exchange, with the median book age at decision per source."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from arbsite.redis import key, redis_client
from tests.trading.test_detection import (  # noqa: F401 - fixtures
    INVEX_BOOK,
    NOBITEX_BOOK,
    NOW,
    clean_redis,
    detect,
    scene,
    sent,
)
from trading.models import Opportunity
from trading.selectors import decisions_by_source
from trading.services.books import STREAM, book_field, book_to_json, books_clear, books_store


def _streamed(book, *, fetched_at) -> None:
    """Store a book as the streamer does (its JSON says ``source: stream``)."""
    redis_client().hset(key("books"), book_field(book.exchange, book.market),
                        book_to_json(book, fetched_at, STREAM))


@pytest.fixture
def mixed(scene):  # noqa: F811
    """Nobitex's book pushed 50 ms before the decision, Invex's polled 250 ms before."""
    books_clear()
    books_store([INVEX_BOOK], fetched_at=NOW)
    _streamed(NOBITEX_BOOK, fetched_at=NOW + timedelta(milliseconds=200))
    return scene


def test_an_opportunity_records_the_source_of_each_book(mixed, sent):  # noqa: F811
    detect()  # decides at NOW + 250 ms

    opportunity = Opportunity.objects.get()
    assert (opportunity.buy_exchange.name, opportunity.buy_book_source,
            opportunity.buy_book_age_ms) == ("nobitex", "stream", 50)
    assert (opportunity.sell_exchange.name, opportunity.sell_book_source,
            opportunity.sell_book_age_ms) == ("invex", "poll", 250)


def test_the_selector_counts_opened_and_rejected_per_source_and_exchange(mixed, sent):  # noqa: F811
    detect()  # opened: nobitex streamed, invex polled
    detect()  # the same pair again: rejected (in flight), on the same books

    result = decisions_by_source(now=timezone.now())

    lines = {(line.source, line.exchange): (line.opened, line.rejected) for line in result.lines}
    assert lines == {("stream", "nobitex"): (1, 1), ("poll", "invex"): (1, 1)}
    assert result.median_book_age_ms == {"poll": 250, "stream": 50}
    assert not result.rejected_unavailable


def test_decisions_older_than_the_window_are_not_counted(mixed, sent):  # noqa: F811
    detect()
    Opportunity.objects.update(created_at=timezone.now() - timedelta(hours=2))

    result = decisions_by_source(now=timezone.now())

    assert result.lines == [] and result.median_book_age_ms == {}
    assert decisions_by_source(now=timezone.now(), minutes=180).lines


def test_the_not_crossed_quiet_state_is_not_counted_as_rejected(mixed, sent):  # noqa: F811
    books_clear()
    quiet = NOBITEX_BOOK.__class__(exchange="nobitex", market="BTC-IRR", bids=NOBITEX_BOOK.bids,
                                   asks=(INVEX_BOOK.asks[0],), received_at=NOW)
    _streamed(quiet, fetched_at=NOW)
    books_store([INVEX_BOOK], fetched_at=NOW)

    report = detect()

    assert report.rejections.get("not_crossed", 0) >= 1
    assert decisions_by_source(now=timezone.now()).lines == []
