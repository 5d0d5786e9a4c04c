"""What the streams are doing, read from Redis: selectors only, they write nothing.

``streams_status`` answers ``/healthz`` and the control panel: per streamable
exchange, whether its stream is connected, the age of its last message,
reconnects in the last hour, and which books are polled because the stream does
not keep them fresh. ``books_kept_by_streams`` is what the poller skips.

A book is kept by its stream when the exchange's active streamer is alive (its
status beat is under ``ALIVE_SECONDS`` old and carries the lease's token), its
connections are up, and the stream stored the book less than half of
``max_book_age_ms`` ago. Everything else is polled: a stream down, stale or
silent, a book quiet for a while (pushes come only on change), or an exchange
nobody streams.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from arbsite.redis import redis_client
from exchanges.models import ExchangeMarket
from exchanges.streams import STREAMS
from trading.models import RiskSettings
from trading.services.streaming import (
    lease_key,
    reconnects_key,
    status_key,
    stream_books_key,
)

logger = logging.getLogger(__name__)

ALIVE_SECONDS = 3.0


@dataclass
class StreamHealth:
    exchange: str
    active: bool = False  # a live streamer holds the lease
    owner: str = ""
    token: int | None = None
    connected: bool = False
    last_message_age_seconds: float | None = None
    reconnects_last_hour: int = 0
    messages: int = 0
    malformed: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    last_error: str = ""
    books: int = 0
    streamed_books: list[str] = field(default_factory=list)
    polled_books: list[str] = field(default_factory=list)  # stream stale or down for them

    def as_json(self) -> dict:
        return {
            "active": self.active, "owner": self.owner, "token": self.token,
            "connected": self.connected,
            "last_message_age_seconds": self.last_message_age_seconds,
            "reconnects_last_hour": self.reconnects_last_hour,
            "messages": self.messages, "malformed": self.malformed,
            "duplicates": self.duplicates, "out_of_order": self.out_of_order,
            "streamed_books": self.streamed_books, "polled_books": self.polled_books,
            "last_error": self.last_error,
        }


def _quiet_ms() -> int:
    return RiskSettings.load().max_book_age_ms // 2


def _listings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    rows = (ExchangeMarket.objects
            .filter(enabled=True, exchange__enabled=True, market__enabled=True,
                    exchange__adapter__in=list(STREAMS))
            .values_list("exchange__name", "market__base", "market__quote")
            .order_by("exchange__name", "market__base", "market__quote"))
    for exchange, base, quote in rows:
        out.setdefault(exchange, []).append(f"{base}-{quote}")
    return out


def streams_status(*, now: float | None = None, quiet_ms: int | None = None) -> list[StreamHealth]:
    """Every enabled exchange that has a websocket, streamed or not."""
    now = time.time() if now is None else now
    quiet_ms = _quiet_ms() if quiet_ms is None else quiet_ms
    listings = _listings()
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    names = sorted(listings)
    for name in names:
        pipe.get(lease_key(name))
        pipe.hgetall(status_key(name))
        pipe.hgetall(stream_books_key(name))
        pipe.zcount(reconnects_key(name), (now - 3600) * 1000, "+inf")
    replies = pipe.execute()
    out = []
    for i, name in enumerate(names):
        lease, status, books, reconnects = replies[4 * i: 4 * i + 4]
        out.append(_health(name, listings[name], lease, status, books, reconnects, now, quiet_ms))
    return out


def _health(name: str, markets: list[str], lease: str | None, status: dict, books: dict,
            reconnects: int, now: float, quiet_ms: int) -> StreamHealth:
    health = StreamHealth(exchange=name, books=len(markets))
    token = _int(status.get("token"))
    beat = _int(status.get("heartbeat_ms"))
    health.owner = status.get("owner", "")
    health.token = token
    health.active = bool(lease and token is not None and lease.split(" ", 1)[0] == str(token)
                         and beat is not None and now * 1000 - beat <= ALIVE_SECONDS * 1000)
    health.connected = health.active and status.get("connected") == "1"
    last = _int(status.get("last_message_ms"))
    if last is not None:
        health.last_message_age_seconds = round(max(0.0, now - last / 1000), 1)
    health.reconnects_last_hour = int(reconnects or 0)
    for counter in ("messages", "malformed", "duplicates", "out_of_order"):
        setattr(health, counter, _int(status.get(counter)) or 0)
    health.last_error = status.get("last_error", "")
    for market in markets:
        stored = _int(books.get(market))
        fresh = (health.connected and stored is not None
                 and now * 1000 - stored <= quiet_ms)
        (health.streamed_books if fresh else health.polled_books).append(market)
    return health


def books_kept_by_streams(*, now: float | None = None) -> set[tuple[str, str]]:
    """(exchange, market) the streams keep fresh: the poller leaves them alone.
    Redis unreadable: the empty set (poll everything)."""
    try:
        return {(h.exchange, market) for h in streams_status(now=now)
                for market in h.streamed_books}
    except Exception as exc:
        logger.warning("stream status unreadable (%s): polling every book", exc)
        return set()


def _int(value: object) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
