"""The control panel says why nothing traded: detection's refusals of the
last hour, by reason, with the last example of each."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from trading.detection.rejections import Reason, Rejection, rejections_recent, rejections_record

pytestmark = pytest.mark.django_db


def _stale(market: str = "BTC-IRR") -> Rejection:
    return Rejection(Reason.STALE_BOOK, market, "nobitex", "wallex",
                     {"buy_age_ms": "4200", "sell_age_ms": "150", "max_book_age_ms": "3000"})


def test_the_panel_shows_the_last_hours_refusals(operator_client):
    now = timezone.now()
    rejections_record(rejections=[_stale(), _stale("ETH-IRR")], now=now - timedelta(minutes=5))
    rejections_record(rejections=[Rejection(Reason.NOT_CROSSED, "BTC-IRR", "wallex", "nobitex",
                                            {})], now=now)

    body = operator_client.get(reverse("admin:control_panel")).content.decode()

    row = body[body.index('id="rejection-stale_book"'):]
    row = row[:row.index("</tr>")]
    assert "<td>2</td>" in row and "older than the maximum book age" in row
    assert "ETH-IRR nobitex → wallex" in row
    assert "buy age 4,200 ms; sell age 150 ms; max book age 3,000 ms" in row
    assert 'id="rejection-not_crossed"' not in body  # the normal state is not counted


def test_refusals_older_than_the_window_are_not_counted():
    now = timezone.now()
    rejections_record(rejections=[_stale()], now=now - timedelta(minutes=61))
    rejections_record(rejections=[_stale()], now=now - timedelta(minutes=59))

    assert rejections_recent(now=now).counts == {"stale_book": 1}
    assert rejections_recent(now=now, minutes=120).counts == {"stale_book": 2}
