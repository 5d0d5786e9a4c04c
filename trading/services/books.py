"""The latest order book of each (exchange, market), kept in Redis.

The poller stores every book it fetched with its fetch time; detection
loads them all in one round trip. A book is serialised compactly (levels as
``[price, amount]`` strings) so nothing passes through float, and loaded
lazily: a level becomes Decimals when it is read (``StoredLevels``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.types import BookLevel, OrderBook

# A book older than this is gone from Redis altogether; detection applies the
# (much shorter) maximum book age of the risk settings on top.
BOOK_TTL_SECONDS = 120


def _books_key() -> str:
    return key("books")


def _field(exchange: str, market: str) -> str:
    return f"{exchange}|{market}"


def book_to_json(book: OrderBook, fetched_at: datetime) -> str:
    return json.dumps({
        "exchange": book.exchange,
        "market": book.market,
        "bids": [[str(level.price), str(level.amount)] for level in book.bids],
        "asks": [[str(level.price), str(level.amount)] for level in book.asks],
        "received_at": book.received_at.isoformat(),
        "exchange_time": book.exchange_time.isoformat() if book.exchange_time else None,
        "fetched_at": fetched_at.isoformat(),
    }, separators=(",", ":"))


class StoredLevels(Sequence[BookLevel]):
    """One side of a stored book, its levels made Decimals only when read.

    Detection reads the best level of every book and walks the depth of only
    the few that cross; turning every level of every book into Decimals on
    each load was most of the cost of loading the books. Reading one level
    converts that level; iterating, slicing or comparing converts the side
    once and keeps it. A tuple of ``BookLevel`` in every way detection uses it
    (indexing, ``len``, iteration, equality with a tuple of levels)."""

    __slots__ = ("_levels", "_raw")

    def __init__(self, raw: list[list[str]]) -> None:
        self._raw = raw
        self._levels: tuple[BookLevel, ...] | None = None

    def _all(self) -> tuple[BookLevel, ...]:
        if self._levels is None:
            self._levels = tuple([BookLevel(Decimal(p), Decimal(a)) for p, a in self._raw])
        return self._levels

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, index):  # type: ignore[override]
        if self._levels is None and isinstance(index, int):
            price, amount = self._raw[index]
            return BookLevel(Decimal(price), Decimal(amount))
        return self._all()[index]

    def __iter__(self) -> Iterator[BookLevel]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredLevels | tuple):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"StoredLevels({self._raw!r})"


def book_from_json(text: str) -> tuple[OrderBook, datetime]:
    data = json.loads(text)
    book = OrderBook(
        exchange=data["exchange"],
        market=data["market"],
        bids=StoredLevels(data["bids"]),  # type: ignore[arg-type]
        asks=StoredLevels(data["asks"]),  # type: ignore[arg-type]
        received_at=datetime.fromisoformat(data["received_at"]),
        exchange_time=(datetime.fromisoformat(data["exchange_time"])
                       if data.get("exchange_time") else None),
    )
    return book, datetime.fromisoformat(data["fetched_at"])


@dataclass(frozen=True)
class CachedBook:
    book: OrderBook
    fetched_at: datetime

    def age_ms(self, now: datetime | None = None) -> int:
        now = now or timezone.now()
        return max(0, int((now - self.fetched_at).total_seconds() * 1000))


def books_store(books: Iterable[OrderBook], *, fetched_at: datetime | None = None) -> int:
    """Keep these books as the latest of their (exchange, market)."""
    fetched_at = fetched_at or timezone.now()
    mapping = {_field(b.exchange, b.market): book_to_json(b, fetched_at) for b in books}
    if not mapping:
        return 0
    pipe = redis_client().pipeline(transaction=False)
    pipe.hset(_books_key(), mapping=mapping)
    pipe.expire(_books_key(), BOOK_TTL_SECONDS)
    pipe.execute()
    return len(mapping)


def books_latest() -> dict[tuple[str, str], CachedBook]:
    """Every cached book by (exchange, market), in one round trip."""
    raw = redis_client().hgetall(_books_key())
    result: dict[tuple[str, str], CachedBook] = {}
    for text in raw.values():
        book, fetched_at = book_from_json(text)
        result[(book.exchange, book.market)] = CachedBook(book, fetched_at)
    return result


def books_clear() -> None:
    redis_client().delete(_books_key())
