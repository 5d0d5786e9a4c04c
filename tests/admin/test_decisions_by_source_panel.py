"""The control panel shows, right under the Streams table, the last hour's
decisions per book source and exchange with the median book age per source."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from arbsite.redis import key, redis_client
from tests.factories import make_exchange, make_market, make_opportunity
from trading.detection.rejections import Reason, Rejection, rejections_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean():
    client = redis_client()
    names = list(client.scan_iter(key("detection", "*")))
    if names:
        client.delete(*names)
    yield


def test_the_panel_shows_decisions_by_source_under_the_streams_table(operator_client):
    nobitex, wallex = make_exchange("nobitex"), make_exchange("wallex")
    market = make_market("BTC", "IRR")
    for age in (40, 60, 80):
        make_opportunity(market=market, buy=nobitex, sell=wallex, quantity=D("0.01"),
                         buy_price=D("100"), sell_price=D("101"), status="done",
                         buy_book_source="stream",
                         buy_book_age_ms=age, sell_book_source="poll", sell_book_age_ms=700)
    rejections_record(
        rejections=[Rejection(Reason.STALE_BOOK, "BTC-IRR", "nobitex", "wallex", {})],
        now=timezone.now() - timedelta(minutes=3),
        sources={("nobitex", "BTC-IRR"): "stream", ("wallex", "BTC-IRR"): "poll"})

    body = operator_client.get(reverse("admin:control_panel")).content.decode()

    assert body.index('id="streams"') < body.index('id="decisions-by-source"') < body.index(
        'id="pnl"')
    section = body[body.index('id="decisions-by-source"'):body.index('id="pnl"')]
    assert "Decisions by book source (last 60 min)" in section
    rows = [row.split("</tr>")[0] for row in section.split("<tr>")[2:]]
    cells = [[c.split(">", 1)[1] for c in row.split("</td>")[:-1]] for row in rows]
    # by exchange, then source
    assert cells == [["stream", "nobitex", "3", "1"], ["poll", "wallex", "3", "1"]]
    assert "poll 700 ms" in section and "stream 60 ms" in section


def test_the_panel_says_when_no_decision_was_taken(operator_client):
    body = operator_client.get(reverse("admin:control_panel")).content.decode()

    section = body[body.index('id="decisions-by-source"'):body.index('id="pnl"')]
    assert "No decision in the last 60 minutes." in section
