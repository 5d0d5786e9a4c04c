"""Wallex order books over its websocket (docs: developers.wallex.ir, the
sockets pages; what the sandbox speaks is in exchanges/sandbox/WIRE.md).

* ``wss://api.wallex.ir/ws``, plain websocket (the 2022 edition used socket.io v2
  with a ``"Broadcaster"`` event; not supported);
* subscribe with ``["subscribe",{"channel":"BTCTMN@buyDepth"}]`` and
  ``["subscribe",{"channel":"BTCTMN@sellDepth"}]``;
* each message ``["BTCTMN@buyDepth",[{"quantity":255.75,"price":82131,"sum":…},…]]``
  is a full snapshot of **one side**, as JSON numbers, in **toman** on TMN
  markets, with no timestamp: the two sides are joined here, stamped on
  receipt, and prices converted toman → rial with the listing's ``price_scale``
  exactly as the REST adapter does (``exchanges.adapters._common.levels``);
* the server pings every 20 s (protocol level: the library answers) and drops
  every connection after 30 minutes, so connections rotate after ``max_age``.

Frames that are JSON but not a book message of ours (an acknowledgement, an
error, a text heartbeat) are counted as messages and otherwise ignored; a book
message that cannot be read is malformed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from websockets.asyncio.client import ClientConnection

from exchanges.types import OrderBook

from .books import ASKS, BIDS, Outcome, WallexBook
from .client import BookStream
from .frames import MalformedFrame, loads

SIDES = {"buyDepth": BIDS, "sellDepth": ASKS}
# Wallex documents no channel limit per connection [?]: 50 markets (100 channels) each.
CHANNELS_PER_CONNECTION = 100
# Wallex drops every connection after 30 minutes; leave a few minutes before.
MAX_AGE_SECONDS = 25 * 60


class WallexStream(BookStream):
    protocol = "wallex"
    channels_per_connection = CHANNELS_PER_CONNECTION
    channels_per_market = 2

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = {m: WallexBook(self.exchange, spec) for m, spec in self.specs.items()}
        self.by_channel: dict[str, tuple[str, str]] = {}
        for market, spec in self.specs.items():
            for suffix, side in SIDES.items():
                self.by_channel[f"{spec.symbol.upper()}@{suffix}"] = (market, side)

    def book(self, market: str) -> OrderBook | None:
        return self.state[market].book

    async def _open(self, ws: ClientConnection, markets: Sequence[str]) -> None:
        for market in markets:
            symbol = self.specs[market].symbol.upper()
            for suffix in SIDES:
                await ws.send(json.dumps(["subscribe", {"channel": f"{symbol}@{suffix}"}]))

    async def _frame(self, ws: ClientConnection, frame: str | bytes, received: datetime) -> None:
        if isinstance(frame, bytes):
            raise MalformedFrame("binary frame on a JSON connection")
        if frame.strip().lower() in ("ping", "pong"):
            self.stats.pings += 1
            return
        message = loads(frame)
        if not (isinstance(message, list) and len(message) == 2 and isinstance(message[0], str)):
            return  # not a book message (an acknowledgement or error object): ignored
        target = self.by_channel.get(message[0])
        if target is None:
            if message[0].endswith(tuple(SIDES)):
                raise MalformedFrame(f"a message for a channel not subscribed: {message[0]!r}")
            return
        market, side = target
        outcome = self.state[market].push(side, message[1], received)
        self.stats.count(outcome)
        if outcome.applied:
            self.stats.pushes += 1
            self._emit(market, changed=outcome.changed, via="push")

    def _snapshot(self, market: str, book: OrderBook, requested_at: datetime) -> Outcome:
        return self.state[market].snapshot(book, requested_at=requested_at)

    def adopt(self, market: str, stored: OrderBook) -> OrderBook | None:
        """Join our latest side with a newer other side stored by the poller; the
        joined book, or None when nothing newer was there."""
        state = self.state[market]
        return state.book if state.adopt(stored) else None
