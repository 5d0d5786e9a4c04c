"""The sandbox's websockets: Nobitex's Centrifugo JSON protocol and Wallex's
one-sided depth messages, pushing every change of the sandbox's books.

One asyncio loop in a thread of its own, one port, two paths:
``/connection/websocket`` (Nobitex) and ``/ws`` (Wallex), as on the real hosts.
``SandboxWorld`` tells it which books changed (its ``book_listeners``); the
loop compares each subscribed book with what it last published and pushes
only what differs. See WIRE.md, "WebSocket streams", for every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..wire.common import fmt, now_ms
from .faults import STREAM_EXCHANGES, StreamFaultSet

logger = logging.getLogger(__name__)
# The library logs every connection opened and closed at INFO: too chatty here.
_quiet = logging.getLogger(__name__ + ".connections")
_quiet.setLevel(logging.WARNING)

PATHS = {"nobitex": "/connection/websocket", "wallex": "/ws"}
NOBITEX_PREFIX = "public:orderbook-"
WALLEX_SIDES = {"buyDepth": "bids", "sellDepth": "asks"}
NOBITEX_MAX_CONNECTIONS_PER_IP = 100  # the docs
NOBITEX_MAX_SUBSCRIPTIONS = 300  # per connection, the docs
OUTBOX_LIMIT = 10_000  # frames waiting for a slow client before it is dropped

# Centrifugo's codes (centrifugal.dev/docs/server/codes) as the sandbox uses them.
ERROR_UNKNOWN_CHANNEL = (102, "unknown channel")
ERROR_METHOD_NOT_FOUND = (104, "method not found")
ERROR_ALREADY_SUBSCRIBED = (105, "already subscribed")
ERROR_LIMIT_EXCEEDED = (106, "limit exceeded")
ERROR_BAD_REQUEST = (107, "bad request")
CLOSE_BAD_REQUEST = (3501, "bad request")
CLOSE_NO_PONG = (3012, "no pong")
CLOSE_SLOW = (3008, "slow")
CLOSE_FORCE_RECONNECT = (3001, "force reconnect")
CLOSE_CONNECTION_AGE = (4000, "connection lifetime over")  # Wallex's 30 min [sandbox code]

MALFORMED_FRAMES = {
    "nobitex": (
        '{"push":{"channel":"public:orderbook-',  # truncated
        "upstream error",  # not JSON
        '{"push":{"channel":"public:orderbook-BTCIRT","pub":{"data":"{\\"asks\\":[[\\"1\\"',
        '{"push":{"channel":"public:orderbook-BTCIRT","pub":{"data":'
        '"{\\"asks\\":[[\\"abc\\",\\"1\\"]],\\"bids\\":[],\\"lastUpdate\\":1}","offset":"x"}}}',
    ),
    "wallex": (
        '["BTCTMN@buyDepth",[{"price":',  # truncated
        "upstream error",
        '["BTCTMN@sellDepth",[{"price":"abc","quantity":1,"sum":1}]]',
        '["BTCTMN@buyDepth",{"price":1}]',
    ),
}


@dataclass(eq=False)
class _Client:
    exchange: str
    ws: ServerConnection
    ip: str
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    channels: set[str] = field(default_factory=set)
    connected: bool = False  # Nobitex: after the connect command
    pong_due: float | None = None  # monotonic deadline of the pending pong
    held: dict[str, str] = field(default_factory=dict)  # reorder fault: channel → frame
    paused: bool = False


class StreamServer:
    """``StreamServer(world, port=0).start()`` … ``.stop()``; see module docstring."""

    def __init__(self, world, host: str = "127.0.0.1", port: int = 0, *,
                 ping_interval: float = 25.0, pong_timeout: float = 25.0,
                 wallex_ping_interval: float = 20.0, wallex_max_age: float = 1800.0,
                 faults: str | None = None, seed: int | None = None) -> None:
        self.world = world
        self.host, self.port = host, port
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.wallex_ping_interval = wallex_ping_interval
        self.wallex_max_age = wallex_max_age
        self.faults = StreamFaultSet(faults, seed)
        self.clients: dict[str, set[_Client]] = {ex: set() for ex in STREAM_EXCHANGES}
        self.counters: dict[str, Counter] = {ex: Counter() for ex in STREAM_EXCHANGES}
        self.offsets: Counter[str] = Counter()  # Nobitex channel → last publication offset
        self.published: dict[tuple[str, str], tuple] = {}  # (exchange, symbol) → fingerprint
        self.last_update: dict[str, int] = {}  # Nobitex symbol → lastUpdate last published
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()  # state() from other threads

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> StreamServer:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-streams", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the sandbox's stream server did not start")
        if self._server is None:
            raise OSError(f"cannot listen on {self.host}:{self.port} for streams")
        self.world.book_listeners.append(self._books_changed)
        logger.info("sandbox streams on ws://%s:%s", self.host, self.port)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        async def listen() -> Server:
            return await serve(
                self._handle, self.host, self.port, process_request=self._process_request,
                ping_interval=None, close_timeout=1, max_size=1024 * 1024,
                reuse_address=True, logger=_quiet,
            )

        try:
            self._server = loop.run_until_complete(listen())
            self.port = self._server.sockets[0].getsockname()[1]
        except Exception:
            logger.exception("sandbox streams: cannot listen on %s:%s", self.host, self.port)
            self._server = None
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.world.book_listeners.remove(self._books_changed)
        loop, server = self._loop, self._server
        if loop is None or server is None or not loop.is_running():
            return

        async def shutdown() -> None:
            server.close()
            for clients in self.clients.values():
                for client in list(clients):
                    client.ws.transport.abort()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3):
                    await server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(5)
        self._server = None

    def url(self, exchange: str) -> str:
        return f"ws://{self.host}:{self.port}{PATHS[exchange]}"

    # -- control (from any thread) ----------------------------------------------------

    def set_faults(self, spec: str | dict | None, *, replace: bool = False) -> None:
        self.faults.apply(spec, replace=replace)
        self._call(self._faults_changed)

    def clear_faults(self) -> None:
        self.set_faults(None, replace=True)

    def drop(self, exchange: str) -> int:
        """Close every connection of ``exchange`` now, without a close frame."""
        if exchange not in STREAM_EXCHANGES:
            raise ValueError(f"no stream for {exchange!r}")
        count = len(self.clients[exchange])
        self._call(lambda: [c.ws.transport.abort() for c in list(self.clients[exchange])])
        return count

    def state(self) -> dict:
        with self._lock:
            return {
                "url": {ex: self.url(ex) for ex in STREAM_EXCHANGES},
                "ping_interval": self.ping_interval,
                "pong_timeout": self.pong_timeout,
                "faults": self.faults.as_dict(),
                "exchanges": {
                    ex: {"connections": len(self.clients[ex]),
                         "subscriptions": sum(len(c.channels) for c in self.clients[ex]),
                         **dict(self.counters[ex])}
                    for ex in STREAM_EXCHANGES
                },
            }

    def _call(self, fn) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(fn)

    # -- the world tells us ------------------------------------------------------------

    def _books_changed(self, exchange: str, symbol: str | None) -> None:
        """A ``SandboxWorld`` listener, called from any thread, right after the
        change: the book is read now, so two quick changes are two pushes."""
        loop = self._loop
        if exchange not in STREAM_EXCHANGES or loop is None or not loop.is_running():
            return
        subscribed = self._subscribed_symbols(exchange)
        for sym in ([symbol] if symbol else sorted(subscribed)):
            if sym in subscribed:
                snapshot = self._book(exchange, sym)
                if snapshot[0] is not None:
                    loop.call_soon_threadsafe(self._publish, exchange, sym, snapshot)

    def _subscribed_symbols(self, exchange: str) -> set[str]:
        out: set[str] = set()
        with self._lock:
            clients = list(self.clients[exchange])
        for client in clients:
            for channel in client.channels:
                out.add(channel.removeprefix(NOBITEX_PREFIX) if exchange == "nobitex"
                        else channel.split("@", 1)[0])
        return out

    # -- publishing ------------------------------------------------------------------

    def _book(self, exchange: str, symbol: str):
        """(book, asks, bids, updated_ms) as they are now."""
        engine = self.world.engines[exchange]
        with engine.lock:
            book = engine.books.get(symbol)
            if book is None:
                return None, None, None, None
            asks, bids = engine.served(symbol)  # as served: the hostile-book faults
            return book, asks, bids, book.updated_ms

    def _publish(self, exchange: str, symbol: str, snapshot) -> None:
        book, asks, bids, updated_ms = snapshot
        if exchange == "nobitex":
            fingerprint = (tuple(asks), tuple(bids))
            if self.published.get((exchange, symbol)) == fingerprint:
                return
            self.published[(exchange, symbol)] = fingerprint
            self._publish_nobitex(book, symbol, asks, bids, updated_ms)
        else:
            for suffix, side in WALLEX_SIDES.items():
                levels = asks if side == "asks" else bids
                key = (exchange, f"{symbol}@{suffix}")
                if self.published.get(key) == tuple(levels):
                    continue
                self.published[key] = tuple(levels)
                self._send_channel("wallex", f"{symbol}@{suffix}",
                                   _wallex_message(f"{symbol}@{suffix}", levels))

    def _publish_nobitex(self, book, symbol: str, asks, bids, updated_ms: int) -> None:
        engine = self.world.engines["nobitex"]
        last = self.last_update.get(symbol, 0)
        stamp = updated_ms
        if stamp <= last:
            # The content moved without a new stamp (a taker ate a level, two changes
            # in one millisecond): lastUpdate moves, here and in the REST answer.
            stamp = max(now_ms(), last + 1)
            with engine.lock:
                if engine.books.get(symbol) is book:
                    book.updated_ms = max(book.updated_ms, stamp)
        self.last_update[symbol] = stamp
        mid = book.mid() or Decimal(0)
        data = json.dumps({
            "asks": [[fmt(p), fmt(q)] for p, q in asks],
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
            "lastTradePrice": fmt(mid.quantize(Decimal(1)) if mid >= 1 else mid),
            "lastUpdate": stamp,
        }, separators=(",", ":"))
        channel = NOBITEX_PREFIX + symbol
        self.offsets[channel] += 1
        frame = json.dumps({"push": {"channel": channel,
                                     "pub": {"data": data, "offset": self.offsets[channel]}}},
                           separators=(",", ":"))
        self._send_channel("nobitex", channel, frame)

    def _send_channel(self, exchange: str, channel: str, frame: str) -> None:
        faults = self.faults
        setting = faults.get(exchange)
        counters = self.counters[exchange]
        for client in list(self.clients[exchange]):
            if channel not in client.channels or setting.silence:
                continue
            if faults.roll(exchange, "malformed"):
                self._enqueue(client, faults.choice(exchange, MALFORMED_FRAMES[exchange]))
                counters["malformed_sent"] += 1
            held = client.held.pop(channel, None)
            if held is None and faults.roll(exchange, "reorder"):
                client.held[channel] = frame  # goes out after the next one
                counters["reordered"] += 1
                continue
            self._enqueue(client, frame)
            counters["pushes_sent"] += 1
            if held is not None:
                self._enqueue(client, held)
                counters["pushes_sent"] += 1
            if faults.roll(exchange, "duplicate"):
                self._enqueue(client, frame)
                counters["duplicates_sent"] += 1

    def _enqueue(self, client: _Client, frame: str) -> None:
        if client.outbox.qsize() >= OUTBOX_LIMIT:
            logger.warning("sandbox streams: %s client %s too slow, dropped", client.exchange,
                           client.ip)
            asyncio.ensure_future(client.ws.close(*CLOSE_SLOW))
            return
        client.outbox.put_nowait(frame)

    # -- connections -----------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request):
        path = request.path.split("?", 1)[0]
        exchange = next((ex for ex, p in PATHS.items() if p == path), None)
        if exchange is None:
            return connection.respond(HTTPStatus.NOT_FOUND,
                                      f"no stream at {path}; streams: {PATHS}\n")
        if self.faults.get(exchange).down:
            self.counters[exchange]["refused"] += 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "stream down\n")
        if exchange == "nobitex":
            ip = connection.remote_address[0]
            if sum(c.ip == ip for c in self.clients["nobitex"]) >= NOBITEX_MAX_CONNECTIONS_PER_IP:
                self.counters[exchange]["refused"] += 1
                return connection.respond(HTTPStatus.TOO_MANY_REQUESTS,
                                          "at most 100 connections per IP\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path.split("?", 1)[0]
        exchange = next(ex for ex, p in PATHS.items() if p == path)
        client = _Client(exchange, ws, ws.remote_address[0])
        with self._lock:
            self.clients[exchange].add(client)
        self.counters[exchange]["connections_total"] += 1
        writer = asyncio.create_task(self._writer(client))
        pinger = asyncio.create_task(self._nobitex_pings(client) if exchange == "nobitex"
                                     else self._wallex_pings(client))
        if self.faults.get(exchange).silence:
            self._pause(client)
        try:
            async for message in ws:
                if exchange == "nobitex":
                    await self._nobitex_command(client, message)
                else:
                    self._wallex_command(client, message)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            pinger.cancel()
            with self._lock:
                self.clients[exchange].discard(client)

    async def _writer(self, client: _Client) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = await client.outbox.get()
                await client.ws.send(frame)

    def _faults_changed(self) -> None:
        for exchange in STREAM_EXCHANGES:
            setting = self.faults.get(exchange)
            for client in list(self.clients[exchange]):
                if setting.down:
                    client.ws.transport.abort()
                elif setting.silence and not client.paused:
                    self._pause(client)
                elif not setting.silence and client.paused:
                    client.paused = False
                    client.ws.transport.resume_reading()

    def _pause(self, client: _Client) -> None:
        client.paused = True
        client.ws.transport.pause_reading()
        self.counters[client.exchange]["silenced"] += 1

    # -- Nobitex (Centrifugo JSON) ------------------------------------------------------

    async def _nobitex_command(self, client: _Client, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await client.ws.close(*CLOSE_BAD_REQUEST)
            return
        replies = []
        for line in message.split("\n"):
            if not line.strip():
                continue
            try:
                command = json.loads(line)
            except ValueError:
                await client.ws.close(*CLOSE_BAD_REQUEST)
                return
            if not isinstance(command, dict):
                await client.ws.close(*CLOSE_BAD_REQUEST)
                return
            if not command:  # a pong
                self.counters["nobitex"]["pongs_received"] += 1
                if not self.faults.get("nobitex").ignore_pongs:
                    client.pong_due = None
                continue
            reply = self._nobitex_reply(client, command)
            if reply is None:
                await client.ws.close(*CLOSE_BAD_REQUEST)
                return
            replies.append(json.dumps(reply, separators=(",", ":")))
        if replies:
            self._enqueue(client, "\n".join(replies))

    def _nobitex_reply(self, client: _Client, command: dict) -> dict | None:
        ident = command.get("id")
        if not isinstance(ident, int) or ident <= 0:
            return None
        if "connect" in command:
            client.connected = True
            return {"id": ident, "connect": {
                "client": str(uuid.uuid4()), "version": "0.0.0-arbsite-sandbox",
                "ping": _number(self.ping_interval), "pong": True}}
        if not client.connected:
            return None  # Centrifugo: commands before connect close the connection
        if "subscribe" in command:
            params = command["subscribe"] if isinstance(command["subscribe"], dict) else {}
            channel = params.get("channel")
            symbol = channel.removeprefix(NOBITEX_PREFIX) if isinstance(channel, str) else ""
            if params.get("delta"):
                return _error(ident, ERROR_BAD_REQUEST, "delta compression is not simulated")
            if (not isinstance(channel, str) or not channel.startswith(NOBITEX_PREFIX)
                    or symbol not in self.world.engines["nobitex"].markets):
                return _error(ident, ERROR_UNKNOWN_CHANNEL)
            if channel in client.channels:
                return _error(ident, ERROR_ALREADY_SUBSCRIBED)
            if len(client.channels) >= NOBITEX_MAX_SUBSCRIPTIONS:
                return _error(ident, ERROR_LIMIT_EXCEEDED)
            client.channels.add(channel)
            self._remember_published("nobitex", symbol)
            return {"id": ident, "subscribe": {}}
        if "unsubscribe" in command:
            params = command["unsubscribe"] if isinstance(command["unsubscribe"], dict) else {}
            client.channels.discard(params.get("channel"))
            return {"id": ident, "unsubscribe": {}}
        return _error(ident, ERROR_METHOD_NOT_FOUND)

    async def _nobitex_pings(self, client: _Client) -> None:
        """``{}`` every ``ping_interval``; no ``{}`` back within ``pong_timeout``: dropped."""
        next_ping = time.monotonic() + self.ping_interval
        with contextlib.suppress(ConnectionClosed):
            while True:
                now = time.monotonic()
                wake = next_ping if client.pong_due is None else min(next_ping, client.pong_due)
                await asyncio.sleep(max(0.0, wake - now))
                now = time.monotonic()
                setting = self.faults.get("nobitex")
                if client.pong_due is not None and now >= client.pong_due and not setting.silence:
                    self.counters["nobitex"]["dropped_no_pong"] += 1
                    await client.ws.close(*CLOSE_NO_PONG)
                    return
                if now >= next_ping:
                    next_ping = now + self.ping_interval
                    if client.connected and not setting.silence and not setting.no_ping:
                        self._enqueue(client, "{}")
                        self.counters["nobitex"]["pings_sent"] += 1
                        if client.pong_due is None:
                            client.pong_due = now + self.pong_timeout

    # -- Wallex ----------------------------------------------------------------------

    def _wallex_command(self, client: _Client, message: str | bytes) -> None:
        try:
            command = json.loads(message)
        except ValueError:
            return
        if not (isinstance(command, list) and len(command) == 2 and isinstance(command[1], dict)):
            return
        action, channel = command[0], command[1].get("channel")
        if action == "subscribe" and isinstance(channel, str):
            symbol, _, suffix = channel.partition("@")
            if suffix not in WALLEX_SIDES or symbol not in self.world.engines["wallex"].markets:
                self._enqueue(client, json.dumps(
                    {"success": False, "message": f"unknown channel {channel}"}))
                return
            client.channels.add(channel)
            self._remember_published("wallex", symbol)
        elif action == "unsubscribe" and isinstance(channel, str):
            client.channels.discard(channel)

    async def _wallex_pings(self, client: _Client) -> None:
        """Protocol-level pings every 20 s (the docs); the connection closes after 30 min."""
        opened = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            while True:
                left = self.wallex_max_age - (time.monotonic() - opened)
                await asyncio.sleep(max(0.0, min(self.wallex_ping_interval, left)))
                if time.monotonic() - opened >= self.wallex_max_age:
                    self.counters["wallex"]["dropped_age"] += 1
                    await client.ws.close(*CLOSE_CONNECTION_AGE)
                    return
                setting = self.faults.get("wallex")
                if setting.silence or setting.no_ping:
                    continue
                waiter = await client.ws.ping()
                self.counters["wallex"]["pings_sent"] += 1
                try:
                    async with asyncio.timeout(self.pong_timeout):
                        await waiter
                    if self.faults.get("wallex").ignore_pongs:
                        raise TimeoutError
                    self.counters["wallex"]["pongs_received"] += 1
                except TimeoutError:
                    self.counters["wallex"]["dropped_no_pong"] += 1
                    await client.ws.close(*CLOSE_NO_PONG)
                    return

    # -- both ------------------------------------------------------------------------

    def _remember_published(self, exchange: str, symbol: str) -> None:
        """A new subscriber gets pushes from the next change on: what is current
        now is taken as published (the docs: take a REST snapshot first)."""
        _, asks, bids, _ = self._book(exchange, symbol)
        if asks is None:
            return
        if exchange == "nobitex":
            self.published.setdefault((exchange, symbol), (tuple(asks), tuple(bids)))
        else:
            self.published.setdefault((exchange, f"{symbol}@buyDepth"), tuple(bids))
            self.published.setdefault((exchange, f"{symbol}@sellDepth"), tuple(asks))


def _wallex_message(channel: str, levels) -> str:
    """``["BTCTMN@buyDepth",[{"quantity":255.75,"price":82131,"sum":…}]]``: JSON numbers."""
    rows = ",".join(f'{{"quantity":{fmt(q)},"price":{fmt(p)},"sum":{fmt(p * q)}}}'
                    for p, q in levels)
    return f'["{channel}",[{rows}]]'


def _error(ident: int, error: tuple[int, str], message: str | None = None) -> dict:
    return {"id": ident, "error": {"code": error[0], "message": message or error[1]}}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def counters_total(counters: dict[str, Counter]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for per in counters.values():
        for name, value in per.items():
            total[name] += value
    return dict(total)
