"""The connection loop both exchanges' streams share.

A ``BookStream`` keeps the books of a set of markets of one exchange up to date
over one or more websocket connections (Nobitex: at most 300 channels each). For
every connection, forever until told to stop:

1. connect (the ``websockets`` library; its own protocol-level keepalive pings
   close a connection whose peer stopped answering), say hello and subscribe
   (``_open``, per protocol);
2. take a REST snapshot of every market (the adapter's ``get_order_book``):
   pushes come only when a book changes, so without it a quiet book would stay
   unknown, and whatever changed while disconnected would be missed;
3. read frames until the connection closes, falls silent for longer than
   ``silence_limit`` (dead: no frame at all, not even the server's pings,
   whether Centrifugo's ``{}`` or protocol-level ones), or reaches
   ``max_age`` (Wallex drops every connection after 30 minutes: leave first);
4. wait a jittered exponential backoff (none after a planned rotation) and go
   back to 1, subscribing again.

A frame that cannot be read is logged and counted, never fatal. Every book
that changes, and every REST snapshot, is handed to ``on_update`` as a
``BookUpdate`` in project units (rial, Decimal).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from exchanges.markets import MarketSpec
from exchanges.types import OrderBook

from .books import DUPLICATE, OUT_OF_ORDER, Outcome
from .frames import MalformedFrame, preview

logger = logging.getLogger(__name__)

RECONNECT_HISTORY_SECONDS = 3600.0


class _TimedConnection(ClientConnection):
    """Notes when the last frame of any kind came, the peer's protocol-level pings
    included (the library answers those itself; ``recv`` never sees them)."""

    last_frame_at: float = 0.0

    def process_event(self, event) -> None:
        self.last_frame_at = time.monotonic()
        super().process_event(event)


class StreamDead(Exception):
    """The connection is alive at the TCP level but must be given up."""


@dataclass(frozen=True)
class StreamSettings:
    """How a stream connects and when it gives a connection up."""

    url: str
    silence_limit: float = 35.0  # seconds without any frame: the connection is dead
    open_timeout: float = 10.0
    keepalive_interval: float | None = 10.0  # protocol-level pings of our own
    keepalive_timeout: float | None = 10.0
    max_age: float | None = None  # seconds: reconnect before the server's forced drop
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    snapshot_concurrency: int = 4


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """A book that changed (or was vouched for again) and how it came."""

    exchange: str
    market: str
    book: OrderBook  # received_at: when the exchange last vouched for this content
    changed: bool
    via: str  # "push" | "snapshot"


@dataclass
class StreamStats:
    """Counters of one exchange's stream (all its connections)."""

    connections: int = 0  # open now
    connections_wanted: int = 0
    connects: int = 0
    reconnects: int = 0  # after a failure (planned rotations not counted)
    rotations: int = 0
    messages: int = 0  # frames received, pings included
    pushes: int = 0  # book messages applied
    snapshots: int = 0
    malformed: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    pings: int = 0
    last_message_at: float | None = None  # wall-clock seconds, any frame (pings too)
    last_error: str = ""
    reconnect_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    @property
    def connected(self) -> bool:
        return self.connections_wanted > 0 and self.connections == self.connections_wanted

    def reconnects_within(self, seconds: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(1 for at in self.reconnect_times if now - at <= seconds)

    def count(self, outcome: Outcome) -> None:
        if outcome.status == DUPLICATE:
            self.duplicates += 1
        elif outcome.status == OUT_OF_ORDER:
            self.out_of_order += 1
        self.gaps += outcome.gap


def backoff_delay(attempt: int, *, initial: float, maximum: float,
                  rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: between half and all of ``initial × 2^attempt``
    (capped), so that many clients do not come back in step."""
    ceiling = min(maximum, initial * (2 ** min(attempt, 30)))
    return (rng or random).uniform(ceiling / 2, ceiling)


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; whether it was set.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 ``wait_for`` can
    swallow a cancellation that arrives as the event is set, and a task told to
    stop would go on."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return event.is_set()


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


class BookStream(ABC):
    """The books of ``specs`` (canonical code → MarketSpec) of one exchange."""

    protocol: str  # nobitex | wallex
    channels_per_connection: int = 300
    max_connections: int = 100

    def __init__(self, *, exchange: str, settings: StreamSettings,
                 specs: Mapping[str, MarketSpec],
                 snapshot: Callable[[str], OrderBook] | None,
                 on_update: Callable[[BookUpdate], None],
                 on_state: Callable[[], None] | None = None) -> None:
        self.exchange = exchange
        self.settings = settings
        self.specs = dict(specs)
        self.snapshot_fn = snapshot
        self.on_update = on_update
        self.on_state = on_state or (lambda: None)
        self.stats = StreamStats()
        self._rng = random.Random()
        self._malformed_logged = 0.0
        groups = self.connection_groups()
        if len(groups) > self.max_connections:
            raise ValueError(f"{exchange}: {len(groups)} connections needed, "
                             f"at most {self.max_connections} allowed")
        self.groups = groups

    # -- what each protocol provides ---------------------------------------------------

    def connection_groups(self) -> list[list[str]]:
        """Markets per connection."""
        markets = sorted(self.specs)
        per = max(1, self.channels_per_connection // self.channels_per_market)
        return [markets[i:i + per] for i in range(0, len(markets), per)] or []

    channels_per_market: int = 1

    @abstractmethod
    async def _open(self, ws: ClientConnection, markets: Sequence[str]) -> None:
        """Hello and subscriptions on a fresh connection."""

    @abstractmethod
    async def _frame(self, ws: ClientConnection, frame: str | bytes, received: datetime) -> None:
        """One frame; raises ``MalformedFrame`` for one that cannot be read."""

    @abstractmethod
    def _snapshot(self, market: str, book: OrderBook, requested_at: datetime) -> Outcome:
        """Merge a REST book into the state of ``market``."""

    def _resubscribed(self, markets: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """A new connection for these markets."""

    # -- the loop --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep every connection up until ``stop`` is set."""
        self.stats.connections_wanted = len(self.groups)
        if not self.groups:
            await stop.wait()
            return
        await asyncio.gather(*(self._connection_loop(i, markets, stop)
                               for i, markets in enumerate(self.groups)))

    async def _connection_loop(self, index: int, markets: list[str], stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            planned = False
            try:
                planned = await self._connection(index, markets, stop)
                attempt = 0
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, StreamDead,
                    MalformedFrame) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                logger.warning("%s stream (connection %d): %s", self.exchange, index,
                               self.stats.last_error)
            except InvalidURI as exc:
                self.stats.last_error = f"bad stream URL: {exc}"
                logger.error("%s stream: %s", self.exchange, self.stats.last_error)
                raise
            if stop.is_set():
                break
            if planned:
                self.stats.rotations += 1
                delay = 0.0
            else:
                self.stats.reconnects += 1
                self.stats.reconnect_times.append(time.time())
                delay = backoff_delay(attempt, initial=self.settings.backoff_initial,
                                      maximum=self.settings.backoff_max, rng=self._rng)
                attempt += 1
            self.on_state()
            if delay:
                await wait_event(stop, delay)

    async def _connection(self, index: int, markets: list[str], stop: asyncio.Event) -> bool:
        """One connection's life; True when it ended by a planned rotation."""
        settings = self.settings
        async with connect(
            settings.url, open_timeout=settings.open_timeout,
            ping_interval=settings.keepalive_interval, ping_timeout=settings.keepalive_timeout,
            close_timeout=2, max_size=8 * 1024 * 1024, max_queue=256, proxy=None,
            user_agent_header=f"arbsite-streamer websockets/{websockets.__version__}",
            create_connection=_TimedConnection,
        ) as ws:
            ws.last_frame_at = time.monotonic()
            self._resubscribed(markets)
            await self._open(ws, markets)
            self.stats.connects += 1
            self.stats.connections += 1
            self.on_state()
            logger.info("%s stream (connection %d) subscribed to %d markets at %s",
                        self.exchange, index, len(markets), settings.url)
            snapshots = asyncio.create_task(self._snapshots(markets))
            try:
                return await self._read(ws, stop)
            finally:
                self.stats.connections -= 1
                snapshots.cancel()
                self.on_state()

    async def _read(self, ws: _TimedConnection, stop: asyncio.Event) -> bool:
        settings = self.settings
        started = time.monotonic()
        max_age = settings.max_age
        if max_age:  # not every connection at the same moment
            max_age *= self._rng.uniform(0.95, 1.0)
        while not stop.is_set():
            now = time.monotonic()
            if max_age and now - started >= max_age:
                logger.info("%s stream: connection %.0f s old, rotating before the server "
                            "drops it", self.exchange, now - started)
                await ws.close()
                return True
            silent = now - ws.last_frame_at
            self.stats.last_message_at = time.time() - silent  # any frame, pings included
            if silent > settings.silence_limit:
                raise StreamDead(f"no frame for {silent:.1f} s (limit {settings.silence_limit} s)")
            wait = min(1.0, settings.silence_limit - silent + 0.01)
            try:
                async with asyncio.timeout(wait):
                    frame = await ws.recv()
            except TimeoutError:
                continue
            self.stats.messages += 1
            self.stats.last_message_at = time.time()
            try:
                await self._frame(ws, frame, utc_now())
            except MalformedFrame as exc:
                self.malformed(frame, exc)
        await ws.close()
        return False

    def malformed(self, frame: str | bytes, exc: Exception) -> None:
        self.stats.malformed += 1
        now = time.monotonic()
        level = logging.WARNING if now - self._malformed_logged > 10 else logging.DEBUG
        self._malformed_logged = now if level == logging.WARNING else self._malformed_logged
        logger.log(level, "%s stream: malformed frame (%d so far): %s: %s", self.exchange,
                   self.stats.malformed, exc, preview(frame))

    async def _snapshots(self, markets: Sequence[str]) -> None:
        """REST books for these markets, a few at a time, merged as they come."""
        if self.snapshot_fn is None:
            return
        gate = asyncio.Semaphore(self.settings.snapshot_concurrency)

        async def one(market: str) -> None:
            async with gate:
                requested = utc_now()
                try:
                    book = await asyncio.to_thread(self.snapshot_fn, market)
                except Exception as exc:  # the stream goes on; pushes will bring the book
                    logger.warning("%s %s: REST snapshot failed: %s", self.exchange, market, exc)
                    return
                outcome = self._snapshot(market, book, requested)
                self.stats.count(outcome)
                if outcome.applied:
                    self.stats.snapshots += 1
                    self._emit(market, changed=outcome.changed, via="snapshot")

        await asyncio.gather(*(one(m) for m in markets))

    # -- for the protocols -----------------------------------------------------------

    def _emit(self, market: str, *, changed: bool, via: str) -> None:
        book = self.book(market)
        if book is not None:
            self.on_update(BookUpdate(self.exchange, market, book, changed, via))

    @abstractmethod
    def book(self, market: str) -> OrderBook | None:
        """The current book of ``market``, if complete."""
