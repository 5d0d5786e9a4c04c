"""The market-data process: websocket books into the shared book store.

``streams_run`` (``python manage.py stream_books``) runs one ``ExchangeStreamer``
per streamable exchange (Nobitex, Wallex), all in one asyncio loop.

**One active streamer per exchange, however many run.** Each exchange has a Redis
lease (``stream:<exchange>:lease``, a few seconds, renewed every second while
held) and a fencing counter (``stream:<exchange>:fence``, ``INCR`` at every
acquisition). The lease's value carries the token; every write of the holder —
books and status — is a Lua script that first checks the lease still holds *its*
token, so a streamer that was paused past its lease (a GC stall, a frozen VM) and
wakes up after a standby took over writes nothing. A standby tries to take the
lease twice a second, so it takes over within ``lease_ttl`` + ½ s of the active
one dying (SIGKILL included: the lease simply expires). A streamer stopped
cleanly (SIGTERM) releases its lease at once.

**Books** go into ``trading.services.books``' store with their receipt time and
``source: "stream"``, under the same "not older than the stored one" rule as the
poller's (``books.NEWER_LUA``), checked atomically with the fence. Writes are
coalesced per market: while one write is on its way, later pushes of a market
replace each other and the next write carries the latest only. Each book is
checked as the poller's are (``book_sanity.book_defect``): a crossed or
disordered one is stored flagged, recorded and logged, never used.

**Detection** is triggered by a stored book whose content changed, through the
same Lua call (``detection_trigger``: ``SET pending NX``); the command passes
the enqueue function (``detect_opportunities.delay``) in, and it is called only
when this write set ``pending``, so a burst costs one detection run.

**Freshness** of a streamed book: the time since the exchange last vouched for
its content — the push that carried it, or the REST snapshot taken at every
(re)subscription. Pings and a healthy connection do not make a book younger
(they say the socket lives, not that the exchange's publisher does). Pushes come
only on change, so a quiet book ages on a healthy stream; once older than half
of ``max_book_age_ms`` it counts as stale and the poller fetches it over REST
again (``stream_status.books_kept_by_streams``) until a push brings it back. A
Wallex book is as old as the older of its two sides. Detection and execution
refuse any book older than ``max_book_age_ms``, whichever way it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.db import close_old_connections
from websockets.exceptions import InvalidURI

from arbsite.redis import key
from exchanges.markets import MarketSpec
from exchanges.models import Exchange
from exchanges.registry import get_adapter, market_specs
from exchanges.streams import STREAMS, BookStream, BookUpdate, StreamSettings
from exchanges.streams.client import wait_event
from exchanges.streams.wallex import WallexStream
from trading.services.book_sanity import book_defect, book_rejections_note_async
from trading.services.books import (
    BOOK_TTL_SECONDS,
    NEWER_LUA,
    STREAM,
    book_field,
    book_from_json,
    book_to_json,
    books_meta_key,
    epoch_ms,
)
from trading.services.detection_trigger import PENDING_TTL_MS, pending_key

logger = logging.getLogger(__name__)

LEASE_TTL = 3.0  # seconds
RENEW_EVERY = 1.0
STANDBY_RETRY = 0.5
STATUS_EVERY = 1.0
SPECS_EVERY = 30.0  # listings re-read: a market enabled in the admin is streamed
SNAPSHOT_MAX_WAIT = 5.0  # seconds a REST snapshot may wait for a rate-limit slot
STREAM_BOOKS_TTL = 24 * 3600


def lease_key(exchange: str) -> str:
    return key("stream", exchange, "lease")


def fence_key(exchange: str) -> str:
    return key("stream", exchange, "fence")


def status_key(exchange: str) -> str:
    return key("stream", exchange, "status")


def stream_books_key(exchange: str) -> str:
    """market → ms of the last book this exchange's stream stored."""
    return key("stream", exchange, "books")


def reconnects_key(exchange: str) -> str:
    return key("stream", exchange, "reconnects")


def standby_key(exchange: str, owner: str) -> str:
    return key("stream", exchange, "standby", owner)


_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: lease, books, meta, stream books, pending. ARGV: lease value, books ttl,
# pending ttl ms, stream books ttl, then (field, market, json, t, xt, changed) per book.
# Returns {-1} when fenced out, else {trigger, stored-or-not per book}.
_STORE = NEWER_LUA + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local out = {0}
local want = false
for i = 5, #ARGV, 6 do
  local field, t, xt = ARGV[i], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  if not_older(KEYS[3], field, t, xt) then
    redis.call('HSET', KEYS[2], field, ARGV[i + 2])
    redis.call('HSET', KEYS[3], field, ARGV[i + 3] .. ' ' .. ARGV[i + 4])
    redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 3])
    if ARGV[i + 5] == '1' then want = true end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[4])
if want and redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[3]) then out[1] = 1 end
return out
"""
# KEYS: lease, status, reconnects. ARGV: lease value, now ms, field count, fields…,
# then reconnect times (ms). Fenced like the books.
_STATUS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[3])
for i = 4, 3 + 2 * n, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 4 + 2 * n, #ARGV do redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[2]) - 3600000)
redis.call('EXPIRE', KEYS[3], 7200)
return 1
"""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class StreamerOptions:
    lease_ttl: float = LEASE_TTL
    renew_every: float = RENEW_EVERY
    standby_retry: float = STANDBY_RETRY
    status_every: float = STATUS_EVERY
    specs_every: float = SPECS_EVERY
    stream_settings: dict[str, Any] = field(default_factory=dict)  # StreamSettings overrides


def _db(fn: Callable[[], Any]) -> Any:
    """Run ORM code in a worker thread (never in the event loop), closing the
    thread's stale connections around it."""
    def call() -> Any:
        close_old_connections()
        try:
            return fn()
        finally:
            close_old_connections()
    return asyncio.to_thread(call)


class ExchangeStreamer:
    """The lease, the stream and the writes of one exchange."""

    def __init__(self, *, exchange: str, kind: str, url: str, redis: aioredis.Redis,
                 enqueue: Callable[[], Any], owner: str, options: StreamerOptions) -> None:
        self.exchange = exchange
        self.kind = kind
        self.url = url
        self.redis = redis
        self.enqueue = enqueue
        self.owner = owner
        self.options = options
        self.token: int | None = None
        self.lease_value: str | None = None
        self.stream: BookStream | None = None
        self.pending: dict[str, BookUpdate] = {}
        self.dirty = asyncio.Event()
        self.lost = asyncio.Event()
        self.state_changed = asyncio.Event()
        self.writes = 0
        self.detections_requested = 0
        self._reconnects_flushed = 0

    # -- the lease -------------------------------------------------------------------

    async def _acquire(self) -> bool:
        token = int(await self.redis.eval(_ACQUIRE, 2, lease_key(self.exchange),
                                          fence_key(self.exchange), self.owner,
                                          int(self.options.lease_ttl * 1000)))
        if token:
            self.token, self.lease_value = token, f"{token} {self.owner}"
        return bool(token)

    async def _renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, lease_key(self.exchange), self.lease_value,
                                          int(self.options.lease_ttl * 1000)))

    async def _release(self) -> None:
        if self.lease_value:
            await self.redis.eval(_RELEASE, 1, lease_key(self.exchange), self.lease_value)

    # -- the loop --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Standby until the lease is free, active while it is held, until ``stop``."""
        logger.info("%s streamer %s: standing by for the lease", self.exchange, self.owner)
        while not stop.is_set():
            try:
                acquired = await self._acquire()
            except (aioredis.RedisError, OSError) as exc:
                logger.warning("%s streamer: Redis unavailable (%s); retrying", self.exchange, exc)
                acquired = False
            if not acquired:
                await self._standby_beat()
                await _sleep(stop, self.options.standby_retry)
                continue
            logger.info("%s streamer %s: active with fencing token %d", self.exchange,
                        self.owner, self.token)
            try:
                await self._active(stop)
            except (aioredis.RedisError, OSError) as exc:
                logger.warning("%s streamer: %s; standing by again", self.exchange, exc)
            except (InvalidURI, ValueError):
                raise  # configuration: nothing to retry
            except Exception:
                logger.exception("%s streamer failed; standing by again in 5 s", self.exchange)
                await _sleep(stop, 5.0)
            finally:
                with _suppress_redis():
                    await self._release()
                self.token = self.lease_value = None
            if not stop.is_set():
                logger.warning("%s streamer %s: lease lost; standing by", self.exchange,
                               self.owner)

    async def _standby_beat(self) -> None:
        with _suppress_redis():
            await self.redis.set(standby_key(self.exchange, self.owner), "1",
                                 px=int(self.options.lease_ttl * 2000))

    async def _active(self, stop: asyncio.Event) -> None:
        self.lost.clear()
        while not stop.is_set() and not self.lost.is_set():
            specs, adapter = await _db(self._listings)
            restart = asyncio.Event()
            stream_stop = asyncio.Event()
            stream = self.stream = self._build(specs, adapter)
            self._reconnects_flushed = 0
            tasks = [
                asyncio.create_task(stream.run(stream_stop), name=f"{self.exchange}-stream"),
                asyncio.create_task(self._writer(), name=f"{self.exchange}-writer"),
                asyncio.create_task(self._keeper(specs, restart), name=f"{self.exchange}-keeper"),
            ]
            waiters = [asyncio.create_task(e.wait()) for e in (stop, self.lost, restart)]
            try:
                done, _ = await asyncio.wait([*tasks, *waiters],
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task in tasks and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                stream_stop.set()
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.wait([tasks[0]], timeout=5)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                with _suppress_redis():
                    await self._flush_status()
            if restart.is_set():
                logger.info("%s streamer: listings changed, resubscribing", self.exchange)

    def _listings(self) -> tuple[dict[str, MarketSpec], Any]:
        row = Exchange.objects.get(name=self.exchange)
        specs = market_specs(row) if row.enabled else {}
        return specs, get_adapter(row)

    def _build(self, specs: Mapping[str, MarketSpec], adapter) -> BookStream:
        defaults = STREAMS[self.kind]
        options = {**defaults.settings, **self.options.stream_settings}
        return defaults.stream(
            exchange=self.exchange, settings=StreamSettings(url=self.url, **options), specs=specs,
            snapshot=lambda market: adapter.get_order_book(market, max_wait=SNAPSHOT_MAX_WAIT),
            on_update=self._on_update, on_state=self.state_changed.set,
        )

    # -- books -----------------------------------------------------------------------

    def _on_update(self, update: BookUpdate) -> None:
        previous = self.pending.get(update.market)
        if previous is not None and previous.changed and not update.changed:
            update = BookUpdate(update.exchange, update.market, update.book, True, update.via)
        self.pending[update.market] = update
        self.dirty.set()

    async def _writer(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            batch, self.pending = self.pending, {}
            if batch:
                await self._store(list(batch.values()))

    async def _store(self, updates: list[BookUpdate], *, retry: bool = True) -> None:
        args: list[Any] = [self.lease_value, BOOK_TTL_SECONDS, PENDING_TTL_MS, STREAM_BOOKS_TTL]
        rejected: list[tuple[str, str, str]] = []
        for u in updates:
            # The poller's check (books.books_store): a defective book is stored flagged.
            defect = book_defect(u.book)
            if defect:
                rejected.append((self.exchange, u.market, defect))
            args += [book_field(self.exchange, u.market), u.market,
                     book_to_json(u.book, u.book.received_at, STREAM, rejected=defect),
                     epoch_ms(u.book.received_at),
                     epoch_ms(u.book.exchange_time) if u.book.exchange_time else 0,
                     int(u.changed)]
        result = await self.redis.eval(
            _STORE, 5, lease_key(self.exchange), key("books"), books_meta_key(),
            stream_books_key(self.exchange), pending_key(), *args)
        if result[0] == -1:
            logger.warning("%s streamer %s: fenced out (token %s no longer holds the lease); "
                           "%d books not written", self.exchange, self.owner, self.token,
                           len(updates))
            self.lost.set()
            return
        self.writes += 1
        if rejected:
            try:
                await book_rejections_note_async(self.redis, rejected, source=STREAM)
            except (aioredis.RedisError, OSError) as exc:
                logger.warning("%s streamer: book rejections not recorded: %s", self.exchange,
                               exc)
        if result[0] == 1:
            self.detections_requested += 1
            try:
                await asyncio.to_thread(self.enqueue)
            except Exception:
                logger.exception("%s streamer: could not enqueue detection", self.exchange)
        refused = [u for u, stored in zip(updates, result[1:], strict=True) if not stored]
        if refused and retry:
            await self._adopt(refused)

    async def _adopt(self, refused: list[BookUpdate]) -> None:
        """A stored book newer than ours (the poller's): for Wallex, join our
        latest side with its other side and store that."""
        stream = self.stream
        if not isinstance(stream, WallexStream):
            return
        fields = [book_field(self.exchange, u.market) for u in refused]
        raw = await self.redis.hmget(key("books"), fields)
        joined = []
        for update, text in zip(refused, raw, strict=True):
            if not text:
                continue
            stored, _ = book_from_json(text)
            book = stream.adopt(update.market, stored)
            if book is not None:
                joined.append(BookUpdate(self.exchange, update.market, book, update.changed,
                                         update.via))
        if joined:
            await self._store(joined, retry=False)

    # -- lease, listings and status ------------------------------------------------------

    async def _keeper(self, specs: Mapping[str, MarketSpec], restart: asyncio.Event) -> None:
        renew_at = status_at = time.monotonic()
        specs_at = time.monotonic() + self.options.specs_every
        while True:
            now = time.monotonic()
            if now >= renew_at:
                if not await self._renew():
                    self.lost.set()
                    return
                renew_at = now + self.options.renew_every
            if now >= status_at or self.state_changed.is_set():
                self.state_changed.clear()
                await self._flush_status()
                status_at = now + self.options.status_every
            if now >= specs_at:
                specs_at = now + self.options.specs_every
                fresh, _ = await _db(self._listings)
                if fresh != dict(specs):
                    restart.set()
                    return
            wake = min(renew_at, status_at) - time.monotonic()
            await wait_event(self.state_changed, max(0.01, wake))

    async def _flush_status(self) -> None:
        stream = self.stream
        if stream is None or self.lease_value is None:
            return
        st = stream.stats
        now_ms = int(time.time() * 1000)
        fields = {
            "owner": self.owner, "token": self.token, "url": self.url,
            "connected": int(st.connected), "connections": st.connections,
            "connections_wanted": st.connections_wanted, "markets": len(stream.specs),
            "messages": st.messages, "pushes": st.pushes, "snapshots": st.snapshots,
            "malformed": st.malformed, "duplicates": st.duplicates,
            "out_of_order": st.out_of_order, "gaps": st.gaps, "pings": st.pings,
            "reconnects": st.reconnects, "rotations": st.rotations,
            "last_message_ms": int(st.last_message_at * 1000) if st.last_message_at else "",
            "heartbeat_ms": now_ms, "last_error": st.last_error, "writes": self.writes,
            "detections_requested": self.detections_requested,
        }
        new = st.reconnects - self._reconnects_flushed
        times = list(st.reconnect_times)[-new:] if new > 0 else []
        pairs: list[Any] = []
        for name, value in fields.items():
            pairs += [name, "" if value is None else value]
        await self.redis.eval(_STATUS, 3, lease_key(self.exchange), status_key(self.exchange),
                              reconnects_key(self.exchange), self.lease_value, now_ms,
                              len(fields), *pairs, *(int(t * 1000) for t in times))
        self._reconnects_flushed = st.reconnects


def _suppress_redis() -> contextlib.AbstractContextManager:
    return contextlib.suppress(aioredis.RedisError, OSError)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    await wait_event(stop, seconds)


def streamable_exchanges(names: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, adapter kind) of the enabled exchanges that have a websocket."""
    rows = Exchange.objects.filter(enabled=True, adapter__in=list(STREAMS)).order_by("name")
    if names:
        rows = rows.filter(name__in=names)
    return [(row.name, row.adapter) for row in rows]


def stream_url(kind: str) -> str:
    urls = getattr(settings, "STREAM_URLS", {}) or {}
    return urls.get(kind) or STREAMS[kind].url


async def streams_run(*, enqueue: Callable[[], Any], stop: asyncio.Event,
                      exchange_names: list[str] | None = None, owner: str | None = None,
                      options: StreamerOptions | None = None) -> list[ExchangeStreamer]:
    """Stream every streamable enabled exchange (or those named) until ``stop``."""
    exchanges = await _db(lambda: streamable_exchanges(exchange_names))
    if exchange_names:
        missing = set(exchange_names) - {name for name, _ in exchanges}
        if missing:
            raise ValueError(f"no enabled exchange with a websocket named {sorted(missing)} "
                             f"(streams exist for {', '.join(STREAMS)})")
    client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True,
                                     socket_timeout=5, socket_connect_timeout=2)
    owner = owner or default_owner()
    streamers = [
        ExchangeStreamer(exchange=name, kind=kind, url=stream_url(kind), redis=client,
                         enqueue=enqueue, owner=owner, options=options or StreamerOptions())
        for name, kind in exchanges
    ]
    try:
        if streamers:
            await asyncio.gather(*(s.run(stop) for s in streamers))
        else:
            logger.warning("no enabled exchange has a websocket; nothing to stream")
            await stop.wait()
    finally:
        await client.aclose()
    return streamers
