"""Books stale, read as the panel reads it: an exchange whose books come by
its websocket is fresh while the poller leaves it (issue 15 with issue 14)."""

from __future__ import annotations

import time as clock

import pytest

from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts
from tests.trading.streaming_helpers import eventually, running_streamer
from trading.alerts.checks import checks_run
from trading.alerts.kinds import AlertKind
from trading.alerts.models import ACTIVE_STATES, Alert, AlertChannel, MonitorSettings
from trading.alerts.watchdog import beat_heartbeat_record
from trading.services.books import STREAM, books_latest
from trading.services.polling import orderbooks_poll

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trading_sandbox(sandbox_credentials):
    """The trading fixtures' sandbox, with its websockets."""
    server = SandboxServer(port=0, scenario="static", accounts=demo_accounts(sandbox_credentials),
                           rate_limits=False, invex_cancel_delay=0.05, hang_seconds=3,
                           stream_port=0, stream_options={"ping_interval": 0.5,
                                                          "pong_timeout": 1.0}).start()
    yield server
    server.stop()


@pytest.fixture
def channel(db):
    return AlertChannel.objects.create(name="hook", kind="webhook", min_severity="info",
                                       target="http://127.0.0.1:9/", secret="s" * 20)


def active(kind: str, subject: str | None = None) -> Alert | None:
    alerts = Alert.objects.filter(kind=kind, state__in=ACTIVE_STATES)
    if subject is not None:
        alerts = alerts.filter(subject=subject)
    return alerts.first()


def test_streamed_books_keep_an_exchange_fresh_while_the_poller_leaves_it(trading_setup,
                                                                          channel, settings):
    # The real case: under run.sh the streamer keeps Nobitex's and Wallex's books
    # and the poller skips them; only the poller records "last good fetch".
    sandbox = trading_setup
    settings.STREAM_URLS = {ex: sandbox.stream_url(ex) for ex in ("nobitex", "wallex")}
    monitor = MonitorSettings.load()
    monitor.books_stale_seconds = 2
    monitor.save()
    orderbooks_poll(request_detection=lambda: None)  # the last poll
    beat_heartbeat_record()
    checks_run()
    with running_streamer(exchanges=["nobitex"]):
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].source == STREAM,
                   what="nobitex's streamed book")
        clock.sleep(3)  # longer than books_stale_seconds since the poll
        book = books_latest()[("nobitex", "BTC-IRR")].book  # the market moves: a push
        sandbox.set_book("nobitex", "BTCIRT",
                         asks=[[str(level.price), str(level.amount * 2)] for level in book.asks],
                         bids=[[str(level.price), str(level.amount)] for level in book.bids])
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].age_ms() < 1000,
                   what="the pushed book")
        beat_heartbeat_record()
        checks_run()
    assert active(AlertKind.BOOKS_STALE, "exchange:nobitex") is None  # its stream is fresh
    assert active(AlertKind.BOOKS_STALE, "exchange:invex") is not None  # polled no more
