"""Nobitex order books over its Centrifugo websocket (docs: nobitex/docs-api
``source/includes/_websocket.md``).

The four messages of Centrifugo's JSON protocol this needs:

* ``{"connect":{},"id":1}`` → ``{"id":1,"connect":{"client":…,"ping":25,"pong":true}}``;
* ``{"id":N,"subscribe":{"channel":"public:orderbook-BTCIRT"}}`` → ``{"id":N,"subscribe":{}}``
  or ``{"id":N,"error":{"code":…,"message":…}}``;
* pushes ``{"push":{"channel":…,"pub":{"data":"<JSON text>","offset":N}}}``, where
  ``data`` is a full book ``{asks, bids, lastTradePrice, lastUpdate}`` as a JSON
  string (an older edition of the docs shows it as an object: both are read);
* the server's ping, an empty ``{}``, answered with ``{}`` (the docs: within 25 s
  or the server drops the connection).

Several replies may share one frame, one JSON per line (Centrifugo's batching).
No ``delta: "fossil"`` is asked for, so every publication is a full snapshot.
At most 300 channels per connection and 100 connections per IP (the docs).

Why not ``centrifuge-python``: this is all of the protocol we use, and owning the
read loop lets a malformed frame be counted instead of closing the client,
duplicates and order be judged by ``offset`` and ``lastUpdate``, and both
exchanges share one reconnection, silence and counting loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from websockets.asyncio.client import ClientConnection

from exchanges.types import OrderBook

from .books import NobitexBook, Outcome
from .client import BookStream, StreamDead
from .frames import MalformedFrame, loads

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "public:orderbook-"
HELLO_TIMEOUT = 10.0


def channel_of(symbol: str) -> str:
    return CHANNEL_PREFIX + symbol.upper()


class NobitexStream(BookStream):
    protocol = "nobitex"
    channels_per_connection = 300
    max_connections = 100

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = {m: NobitexBook(self.exchange, spec) for m, spec in self.specs.items()}
        self.by_channel = {channel_of(spec.symbol): market for market, spec in self.specs.items()}
        self.server_ping: float | None = None  # seconds, from the connect reply
        self.answer_pings = True
        self.subscribe_errors: dict[str, str] = {}

    def book(self, market: str) -> OrderBook | None:
        return self.state[market].book

    def _resubscribed(self, markets: Sequence[str]) -> None:
        for market in markets:
            self.state[market].resubscribed()

    async def _open(self, ws: ClientConnection, markets: Sequence[str]) -> None:
        await ws.send(json.dumps({"connect": {}, "id": 1}))
        reply = await self._reply(ws, 1)
        if "error" in reply:
            raise StreamDead(f"connect refused: {reply['error']}")
        connected = reply.get("connect")
        if not isinstance(connected, dict):
            raise StreamDead(f"unexpected connect reply: {reply!r}"[:200])
        ping = connected.get("ping")
        self.server_ping = float(ping) if isinstance(ping, int | Decimal) else None
        if self.server_ping and self.server_ping >= self.settings.silence_limit:
            logger.warning("%s stream: the server pings every %s s, more than the silence "
                           "limit of %s s", self.exchange, ping, self.settings.silence_limit)
        self.answer_pings = bool(connected.get("pong", True))
        for n, market in enumerate(markets, start=2):
            channel = channel_of(self.specs[market].symbol)
            await ws.send(json.dumps({"id": n, "subscribe": {"channel": channel}}))
        self._subscribe_ids = {n: market for n, market in enumerate(markets, start=2)}

    async def _reply(self, ws: ClientConnection, wanted: int) -> dict:
        """Frames until the reply to command ``wanted`` (pings answered meanwhile)."""

        async def wait() -> dict:
            while True:
                frame = await ws.recv()
                for message in self._messages(frame):
                    if message == {}:
                        await ws.send("{}")
                    elif message.get("id") == wanted:
                        return message

        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                return await wait()
        except TimeoutError:
            raise StreamDead(f"no reply to command {wanted} within {HELLO_TIMEOUT} s") from None

    @staticmethod
    def _messages(frame: str | bytes) -> list[dict]:
        if isinstance(frame, bytes):
            raise MalformedFrame("binary frame on a JSON connection")
        out = []
        for line in frame.split("\n"):
            if not line.strip():
                continue
            message = loads(line)
            if not isinstance(message, dict):
                raise MalformedFrame("a message is not a JSON object")
            out.append(message)
        if not out:
            raise MalformedFrame("empty frame")
        return out

    async def _frame(self, ws: ClientConnection, frame: str | bytes, received: datetime) -> None:
        for message in self._messages(frame):
            if not message:
                self.stats.pings += 1
                if self.answer_pings:
                    await ws.send("{}")
                continue
            if "push" in message:
                self._push(message["push"], received)
            elif "id" in message:
                self._command_reply(message)
            # anything else (a future message kind) is ignored, as Centrifugo's SDKs do

    def _command_reply(self, message: dict) -> None:
        market = getattr(self, "_subscribe_ids", {}).get(message.get("id"))
        if market is not None and "error" in message:
            self.subscribe_errors[market] = str(message["error"])[:200]
            self.stats.last_error = f"subscribe {market}: {self.subscribe_errors[market]}"

    def _push(self, push: object, received: datetime) -> None:
        if not isinstance(push, dict):
            raise MalformedFrame("push is not an object")
        if "disconnect" in push:
            raise StreamDead(f"server disconnect: {push['disconnect']}")
        pub = push.get("pub")
        if pub is None:
            return  # join/leave/unsubscribe notices: nothing for a book
        market = self.by_channel.get(push.get("channel"))
        if market is None:
            raise MalformedFrame(f"push for a channel not subscribed: {push.get('channel')!r}")
        if not isinstance(pub, dict):
            raise MalformedFrame("pub is not an object")
        data = pub.get("data")
        if isinstance(data, str):
            data = loads(data)
        offset = pub.get("offset")
        if offset is not None:
            try:
                offset = int(offset)
            except (TypeError, ValueError, ArithmeticError):
                raise MalformedFrame(f"offset is not an integer: {offset!r}") from None
        outcome = self.state[market].push(data, offset, received)
        self.stats.count(outcome)
        if outcome.applied:
            self.stats.pushes += 1
            self._emit(market, changed=outcome.changed, via="push")

    def _snapshot(self, market: str, book: OrderBook, requested_at: datetime) -> Outcome:
        return self.state[market].snapshot(book)
