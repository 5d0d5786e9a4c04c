"""``manage.py stream_books`` as real processes on the real Redis: one active per
exchange among two, a takeover after SIGKILL, a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from arbsite.redis import redis_client
from tests.processes import ROOT, process_env
from tests.trading.streaming_helpers import eventually
from tests.trading.test_streaming import streaming, trading_sandbox  # noqa: F401 - fixtures
from trading.services.books import STREAM, books_latest
from trading.services.streaming import lease_key, standby_key

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def start(owner: str, server, log_path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        [sys.executable, "manage.py", "stream_books", "--exchange", "nobitex",
         "--lease-ttl", "1.5", "--owner", owner],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env=process_env(NOBITEX_WS_URL=server.stream_url("nobitex"),
                        WALLEX_WS_URL=server.stream_url("wallex")),
    )


def holder() -> str | None:
    value = redis_client().get(lease_key("nobitex"))
    return value.split(" ", 1)[1] if value else None


def token() -> int:
    return int(redis_client().get(lease_key("nobitex")).split(" ", 1)[0])


def test_one_active_among_two_and_a_takeover_after_sigkill(streaming, tmp_path):  # noqa: F811
    procs = {name: start(name, streaming, tmp_path / f"{name}.log") for name in ("a", "b")}
    try:
        # Given two streamers: exactly one holds the lease, the other stands by
        active = eventually(holder, what="a lease holder")
        standby = "b" if active == "a" else "a"
        eventually(lambda: redis_client().exists(standby_key("nobitex", standby)),
                   what="the other standing by")
        eventually(lambda: books_latest().get(("nobitex", "BTC-IRR")) is not None
                   and books_latest()[("nobitex", "BTC-IRR")].source == STREAM)
        first = token()

        # When the active one is killed without a chance to clean up
        procs[active].send_signal(signal.SIGKILL)
        procs[active].wait(10)

        # Then the standby takes over with a newer token and streams the next change
        eventually(lambda: holder() == standby, timeout=10, what="the standby took over")
        assert token() > first
        streaming.set_book("nobitex", "BTCIRT", asks=[["100000000555", "1"]],
                           bids=[["99000000000", "1"]])
        eventually(lambda: books_latest()[("nobitex", "BTC-IRR")].book.asks[0].price
                   == 100000000555, what="the change streamed by the new holder")

        # And SIGTERM stops it cleanly, handing the lease back at once
        procs[standby].send_signal(signal.SIGTERM)
        assert procs[standby].wait(15) == 0, (tmp_path / f"{standby}.log").read_text()[-3000:]
        assert holder() is None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
