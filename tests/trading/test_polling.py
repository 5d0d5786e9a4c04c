"""The poll decides when detection runs: after a cycle that stored books."""

import pytest

from trading.services.books import books_latest
from trading.services.polling import orderbooks_poll

pytestmark = pytest.mark.django_db


def test_a_poll_that_stored_books_asks_for_detection(trading_setup):
    asked: list[bool] = []

    report = orderbooks_poll(request_detection=lambda: asked.append(True))

    assert report.ran and report.fetched == 9  # 3 exchanges × 3 markets
    assert len(books_latest()) == 9
    assert asked == [True] and report.detection_requested


def test_a_poll_that_stored_nothing_does_not(trading_setup):
    trading_setup.set_faults("all:down=1")
    asked: list[bool] = []

    report = orderbooks_poll(request_detection=lambda: asked.append(True))

    assert report.ran and report.fetched == 0 and report.errors
    assert asked == [] and not report.detection_requested
