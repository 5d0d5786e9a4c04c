"""A sandbox with its websockets on a free port, and a stream client on it.

Pings come every 0.3 s with a 0.6 s pong timeout, so ping and pong faults
show within a second; the client's silence limit is 1.5 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from exchanges.sandbox import SandboxServer
from exchanges.streams import STREAMS, BookUpdate, StreamSettings
from tests.exchanges.conftest import make_adapter, specs_for

MARKETS = ("BTC-IRR", "USDT-IRR")


@pytest.fixture
def stream_sandbox():
    server = SandboxServer(port=0, scenario="static", seed=3, rate_limits=False, stream_port=0,
                           stream_options={"ping_interval": 0.3, "pong_timeout": 0.6,
                                           "wallex_ping_interval": 0.3}).start()
    server.pause_drift()
    yield server
    server.stop()


class Running:
    """A stream running in its own event loop thread; updates collected."""

    def __init__(self, stream, loop, thread, stop) -> None:
        self.stream, self.loop, self.thread, self._stop = stream, loop, thread, stop
        self.updates: list[BookUpdate] = []

    @property
    def stats(self):
        return self.stream.stats

    def book(self, market: str):
        return self.stream.book(market)

    def pushed(self) -> list[BookUpdate]:
        return [u for u in self.updates if u.via == "push"]

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"not within {timeout} s: {what or condition} "
                             f"(stats {self.stream.stats})")

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


@pytest.fixture
def run_stream(stream_sandbox):
    """``run_stream("nobitex", silence_limit=…)`` → a ``Running`` stream on the sandbox."""
    import threading

    running: list[Running] = []

    def start(kind: str, *, markets=MARKETS, snapshot: bool = True, **settings) -> Running:
        adapter = make_adapter(kind, stream_sandbox.base_url(kind))
        settings.setdefault("silence_limit", 1.5)
        settings.setdefault("backoff_initial", 0.05)
        settings.setdefault("backoff_max", 0.2)
        settings.setdefault("keepalive_interval", None)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        holder: dict = {}
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)

            async def go() -> None:
                stream = STREAMS[kind].stream(
                    exchange=kind, settings=StreamSettings(url=stream_sandbox.stream_url(kind),
                                                           **settings),
                    specs=specs_for(kind, markets),
                    snapshot=adapter.get_order_book if snapshot else None,
                    on_update=lambda u: holder["run"].updates.append(u))
                holder["stream"] = stream
                holder["run"] = Running(stream, loop, thread, stop)
                ready.set()
                await stream.run(stop)

            loop.run_until_complete(go())
            loop.close()

        thread = threading.Thread(target=main, daemon=True)
        thread.start()
        ready.wait(5)
        run = holder["run"]
        running.append(run)
        return run

    yield start
    for run in running:
        run.stop()
