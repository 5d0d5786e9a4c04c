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


@pytest.mark.parametrize("stored", [["invex-signing", "compact"], {"invex-signing": "loose"},
                                    "compact"])
def test_an_exchange_whose_stored_wire_variants_are_unreadable_is_skipped_not_fatal(
        trading_setup, stored, caplog):
    # Written before the admin checked the field (update(): no validation).
    from exchanges.models import Exchange

    Exchange.objects.filter(name="invex").update(wire_variants=stored)

    report = orderbooks_poll(request_detection=lambda: None)

    assert report.ran and report.fetched == 6  # nobitex and wallex, 3 markets each
    assert {exchange for exchange, _ in books_latest()} == {"nobitex", "wallex"}
    assert "configuration unreadable" in report.errors["invex"]
    assert any("invex skipped" in r.getMessage() for r in caplog.records)
