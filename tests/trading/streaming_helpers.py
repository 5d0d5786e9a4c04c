"""Running the streamer in-process (its own event loop in a thread) for tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from trading.services.streaming import StreamerOptions, streams_run

FAST = dict(lease_ttl=1.5, renew_every=0.3, standby_retry=0.2, status_every=0.2)
FAST_STREAM = {"silence_limit": 2.0, "backoff_initial": 0.05, "backoff_max": 0.3,
               "keepalive_interval": None}


class Enqueued:
    """A counting stand-in for ``detect_opportunities.delay`` (what the service is given)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


@contextmanager
def running_streamer(*, enqueue: Callable[[], object] | None = None, owner: str = "test",
                     exchanges: list[str] | None = None, **options) -> Iterator[dict]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    out: dict = {"enqueue": enqueue or Enqueued()}
    opts = StreamerOptions(**{**FAST, **options}, stream_settings=dict(FAST_STREAM))

    def main() -> None:
        asyncio.set_event_loop(loop)
        out["streamers"] = None
        try:
            out["streamers"] = loop.run_until_complete(streams_run(
                enqueue=out["enqueue"], stop=stop, exchange_names=exchanges, owner=owner,
                options=opts))
        except BaseException as exc:  # surfaced by the test
            out["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        if thread.is_alive():
            import sys
            import traceback

            stack = "".join(traceback.format_stack(sys._current_frames()[thread.ident]))
            async def dump() -> str:
                import io

                buf = io.StringIO()
                for t in asyncio.all_tasks():
                    t.print_stack(file=buf)
                return buf.getvalue()

            tasks = asyncio.run_coroutine_threadsafe(dump(), loop).result(5)
            raise AssertionError(f"the streamer did not stop:\n{stack}{tasks}")
        if "error" in out:
            raise out["error"]


def eventually(condition: Callable[[], object], timeout: float = 15.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")
