"""Sanity checks on every book, polled or streamed, before detection may use it.

A book is **rejected** when

- its best bid is at or above its best ask (``crossed``: a phantom bid, or
  bids and asks swapped);
- its levels are out of order (bids must strictly descend, asks strictly
  ascend: ``out_of_order``) or a price or an amount is not positive
  (``non_positive``);
- its mid strays more than ``RiskSettings.max_book_deviation_pct`` from the
  median mid of the other exchanges' fresh, sound books of the same market
  (``deviates``).

The first two are a property of the book alone: ``book_defect`` is called by
both writers of the book store (the poller, ``books_store``, and the
streamer, ``streaming.ExchangeStreamer._store``), and a defective book is
stored *flagged* (``CachedBook.rejected``): it is the exchange's latest word,
so it replaces the older sound one, and detection refuses every pair that
uses it. The deviation needs the other exchanges' books: detection's pure
cycle applies ``books_deviating`` to the books it loaded. Every rejection is
counted per (exchange, market) in Redis with its last reason
(``book_rejections_note``), logged, shown on the control panel
(``book_rejections_read``) and, for each pair it refused, among detection's
rejections (``Reason.BAD_BOOK``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from statistics import median
from typing import Any

import redis
from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.markets import decimal_str
from exchanges.types import BookLevel, OrderBook

logger = logging.getLogger(__name__)

HUNDRED = Decimal("100")
TWO = Decimal("2")
CROSSED, OUT_OF_ORDER, NON_POSITIVE = "crossed", "out_of_order", "non_positive"
DEVIATES = "deviates"
KINDS = (CROSSED, OUT_OF_ORDER, NON_POSITIVE, DEVIATES)
# A rejected book of one (exchange, market) is logged at most this often (a
# stream may push it many times a second); every one is counted.
LOG_EVERY_SECONDS = 10.0
REJECTIONS_TTL_SECONDS = 7 * 24 * 3600


def _s(value: Decimal) -> str:
    return decimal_str(value)


def book_defect(book: OrderBook) -> str | None:
    """What is wrong with this book on its own (``kind: detail``), or None.

    Reads every level of both sides (a swapped book is crossed at its best
    levels; a book with one level out of place deeper down would be walked
    by detection's depth and is refused just the same)."""
    bids, asks = book.bids, book.asks
    if bids and asks and bids[0].price >= asks[0].price:
        return (f"{CROSSED}: best bid {_s(bids[0].price)} at or above best ask "
                f"{_s(asks[0].price)}")
    for name, levels, descending in (("bids", bids, True), ("asks", asks, False)):
        previous: BookLevel | None = None
        for i, level in enumerate(levels):
            if level.price <= 0 or level.amount <= 0:
                return (f"{NON_POSITIVE}: {name}[{i}] price {_s(level.price)} "
                        f"amount {_s(level.amount)}")
            if previous is not None and (level.price >= previous.price if descending
                                         else level.price <= previous.price):
                return (f"{OUT_OF_ORDER}: {name}[{i}] {_s(level.price)} after "
                        f"{_s(previous.price)} (must strictly {'de' if descending else 'a'}scend)")
            previous = level
    return None


def book_mid(book: OrderBook) -> Decimal | None:
    if not book.bids or not book.asks:
        return None
    return (book.bids[0].price + book.asks[0].price) / TWO


@dataclass(frozen=True, slots=True)
class MidQuote:
    """One exchange's fresh, sound book of a market, as the deviation check reads it."""

    exchange: str
    market: str
    mid: Decimal


def books_deviating(quotes: Iterable[MidQuote], *, max_pct: Decimal
                    ) -> dict[tuple[str, str], str]:
    """(exchange, market) → why, for the books whose mid strays more than
    ``max_pct`` percent from the median mid of the other exchanges' books.

    Worst first: the book that strays most is rejected and left out of the
    others' reference, then the rest are judged again. So with three books
    one far off, only that one goes (a plain "median of the others" would
    also reject a sound book whose reference the far one pulled); with two
    books apart, both are rejected (nothing says which is right). A book
    with no other to compare is not judged. ``max_pct`` ≤ 0 turns it off."""
    if max_pct <= 0:
        return {}
    by_market: dict[str, dict[str, Decimal]] = {}
    for q in quotes:
        by_market.setdefault(q.market, {})[q.exchange] = q.mid
    out: dict[tuple[str, str], str] = {}
    for market, mids in by_market.items():
        left = dict(mids)
        while len(left) > 1:
            worst: list[tuple[Decimal, str, Decimal]] = []
            for exchange, mid in left.items():
                reference = Decimal(median([m for e, m in left.items() if e != exchange]))
                if reference <= 0:
                    continue
                pct = abs(mid - reference) / reference * HUNDRED
                if pct > max_pct:
                    worst.append((pct, exchange, reference))
            if not worst:
                break
            # Of two books apart, neither is more right than the other: both go.
            top = max(pct for pct, _, _ in worst) if len(left) > 2 else Decimal(0)
            for pct, exchange, reference in worst:
                if pct >= top:
                    out[(exchange, market)] = (
                        f"{DEVIATES}: mid {_s(left[exchange])} is "
                        f"{_s(pct.quantize(Decimal('0.01')))}% from the other exchanges' "
                        f"median {_s(reference)} (limit {_s(max_pct)}%)")
            for _, exchange, _ in worst:
                if (exchange, market) in out:
                    left.pop(exchange, None)
    return out


def _rejections_key(exchange: str, market: str) -> str:
    return key("books", "rejected", f"{exchange}|{market}")


def _index_key() -> str:
    return key("books", "rejected")


_last_logged: dict[tuple[str, str], tuple[float, str]] = {}


def _log(exchange: str, market: str, reason: str, source: str) -> None:
    now = time.monotonic()
    last = _last_logged.get((exchange, market))
    kind = reason.split(":", 1)[0]
    if last is None or now - last[0] >= LOG_EVERY_SECONDS or last[1] != kind:
        _last_logged[(exchange, market)] = (now, kind)
        logger.warning("book rejected: %s %s (%s): %s", exchange, market, source, reason)


def rejection_commands(exchange: str, market: str, reason: str, at: datetime,
                       source: str) -> list[tuple[str, tuple[Any, ...]]]:
    """The Redis commands recording one rejection (for a sync or an async
    pipeline alike): the count per kind, the last reason and moment."""
    kind = reason.split(":", 1)[0]
    k = _rejections_key(exchange, market)
    return [
        ("hincrby", (k, "count", 1)),
        ("hincrby", (k, f"count_{kind}", 1)),
        ("hset", (k, "last_reason", reason[:500])),
        ("hset", (k, "last_at", at.isoformat())),
        ("hset", (k, "last_source", source)),
        ("expire", (k, REJECTIONS_TTL_SECONDS)),
        ("sadd", (_index_key(), f"{exchange}|{market}")),
        ("expire", (_index_key(), REJECTIONS_TTL_SECONDS)),
    ]


def book_rejections_note(rejected: Iterable[tuple[str, str, str]], *, source: str,
                         at: datetime | None = None) -> None:
    """Record and log these rejections ((exchange, market, reason)); a Redis
    error is logged, never allowed to stop the poll or detection."""
    rejected = list(rejected)
    if not rejected:
        return
    at = at or timezone.now()
    try:
        pipe = redis_client().pipeline(transaction=False)
        for exchange, market, reason in rejected:
            _log(exchange, market, reason, source)
            for name, args in rejection_commands(exchange, market, reason, at, source):
                getattr(pipe, name)(*args)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("book rejections not recorded (%s): %s", rejected[:3], exc)


async def book_rejections_note_async(client, rejected: Sequence[tuple[str, str, str]], *,
                                     source: str, at: datetime | None = None) -> None:
    """``book_rejections_note`` for the streamer's asyncio Redis client."""
    if not rejected:
        return
    at = at or timezone.now()
    pipe = client.pipeline(transaction=False)
    for exchange, market, reason in rejected:
        _log(exchange, market, reason, source)
        for name, args in rejection_commands(exchange, market, reason, at, source):
            getattr(pipe, name)(*args)
    await pipe.execute()


@dataclass(frozen=True)
class BookRejectionLine:
    exchange: str
    market: str
    count: int
    counts: dict[str, int]  # by kind
    last_reason: str
    last_at: datetime | None
    last_source: str


def book_rejections_read() -> list[BookRejectionLine]:
    """Every (exchange, market) with a rejected book in the last week, the
    latest first (a selector for the control panel: two round trips)."""
    client = redis_client()
    members = sorted(client.smembers(_index_key()))
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    for member in members:
        exchange, _, market = member.partition("|")
        pipe.hgetall(_rejections_key(exchange, market))
    lines = []
    for member, data in zip(members, pipe.execute(), strict=True):
        if not data:
            continue
        exchange, _, market = member.partition("|")
        lines.append(BookRejectionLine(
            exchange, market, int(data.get("count", 0)),
            {kind: int(data[f"count_{kind}"]) for kind in KINDS if f"count_{kind}" in data},
            data.get("last_reason", ""),
            datetime.fromisoformat(data["last_at"]) if data.get("last_at") else None,
            data.get("last_source", "")))
    lines.sort(key=lambda line: line.last_at.timestamp() if line.last_at else 0, reverse=True)
    return lines


def book_rejection_counts() -> Mapping[tuple[str, str], int]:
    """(exchange, market) → rejected books counted (tests and the bench)."""
    return {(line.exchange, line.market): line.count for line in book_rejections_read()}


def book_rejections_clear() -> None:
    client = redis_client()
    members = client.smembers(_index_key())
    keys = [_rejections_key(*m.split("|", 1)) for m in members]
    client.delete(_index_key(), *keys)

