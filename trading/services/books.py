"""The latest order book of each (exchange, market), kept in Redis.

The poller stores every book it fetched with its fetch time, the streamer
(``trading.services.streaming``) every book a websocket pushed with its
receipt time; detection loads them all in one round trip. Each stored book
says where it came from (``source``: ``poll`` or ``stream``).

Two writers, one rule: a book replaces the stored one of its (exchange,
market) only if it is not older. Where both carry the exchange's own time
(Nobitex ``lastUpdate``) that decides, the receipt time breaking a tie (the
same content seen again is younger); otherwise the receipt time does. The
times compared live beside the books (``books:meta``) so the check is one Lua
script, atomic with the write. A book is serialised compactly (levels as
``[price, amount]`` strings) so nothing passes through float, and loaded
lazily: a level becomes Decimals when it is read (``StoredLevels``).

Both writers check a book before storing it (``trading.services.book_sanity``):
a crossed or disordered book is stored flagged (``rejected``), so it still
replaces an older sound one and detection refuses it.
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
from trading.services.book_sanity import book_defect, book_rejections_note

# A book older than this is gone from Redis altogether; detection applies the
# (much shorter) maximum book age of the risk settings on top.
BOOK_TTL_SECONDS = 120
POLL, STREAM = "poll", "stream"


def _books_key() -> str:
    return key("books")


def books_meta_key() -> str:
    """``exchange|market`` → ``"<received ms> <exchange ms or 0>"`` of the stored book."""
    return key("books", "meta")


def book_field(exchange: str, market: str) -> str:
    return _field(exchange, market)


def epoch_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


# Lua: is the book (t, xt) not older than the stored one (meta "t xt")? Shared by
# the poller's store below and the streamer's fenced store.
NEWER_LUA = """
local function not_older(meta, field, t, xt)
  local old = redis.call('HGET', meta, field)
  if not old then return true end
  local ot, oxt = string.match(old, '^(%d+) (%d+)')
  ot, oxt = tonumber(ot), tonumber(oxt)
  if xt > 0 and oxt and oxt > 0 then
    if xt ~= oxt then return xt > oxt end
  end
  return t >= ot
end
"""

# KEYS: books, meta. ARGV: ttl, keep_newer (0/1), then (field, json, t, xt) per book.
_STORE = NEWER_LUA + """
local stored = 0
for i = 3, #ARGV, 4 do
  local field, t, xt = ARGV[i], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  if ARGV[2] == '0' or not_older(KEYS[2], field, t, xt) then
    redis.call('HSET', KEYS[1], field, ARGV[i + 1])
    redis.call('HSET', KEYS[2], field, ARGV[i + 2] .. ' ' .. ARGV[i + 3])
    stored = stored + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return stored
"""


def _field(exchange: str, market: str) -> str:
    return f"{exchange}|{market}"


def book_to_json(book: OrderBook, fetched_at: datetime, source: str = POLL,
                 rejected: str | None = None) -> str:
    """``rejected``: why the book failed its sanity check (``book_sanity``);
    it is stored all the same, flagged, so detection refuses it."""
    data = {
        "exchange": book.exchange,
        "market": book.market,
        "bids": [[str(level.price), str(level.amount)] for level in book.bids],
        "asks": [[str(level.price), str(level.amount)] for level in book.asks],
        "received_at": book.received_at.isoformat(),
        "exchange_time": book.exchange_time.isoformat() if book.exchange_time else None,
        "fetched_at": fetched_at.isoformat(),
        "source": source,
    }
    if rejected:
        data["rejected"] = rejected
    return json.dumps(data, separators=(",", ":"))


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
    book, fetched_at, _ = book_from_json_with_source(text)
    return book, fetched_at


def book_from_json_with_source(text: str) -> tuple[OrderBook, datetime, str]:
    book, fetched_at, source, _ = _book_from_json(text)
    return book, fetched_at, source


def _book_from_json(text: str) -> tuple[OrderBook, datetime, str, str]:
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
    return (book, datetime.fromisoformat(data["fetched_at"]), data.get("source", POLL),
            data.get("rejected", ""))


@dataclass(frozen=True)
class CachedBook:
    book: OrderBook
    fetched_at: datetime
    source: str = POLL
    rejected: str = ""  # why its sanity check refused it (book_sanity); "" when sound

    def age_ms(self, now: datetime | None = None) -> int:
        now = now or timezone.now()
        return max(0, int((now - self.fetched_at).total_seconds() * 1000))


def books_store(books: Iterable[OrderBook], *, fetched_at: datetime | None = None,
                keep_newer: bool = False) -> int:
    """Keep these books as the latest of their (exchange, market); with
    ``keep_newer``, not over a stored book that is newer (a streamed one).

    Each book is checked first (``book_sanity.book_defect``): a defective
    one is stored flagged, recorded and logged, never used by detection."""
    fetched_at = fetched_at or timezone.now()
    t = epoch_ms(fetched_at)
    args: list[str | int] = [BOOK_TTL_SECONDS, int(keep_newer)]
    rejected: list[tuple[str, str, str]] = []
    for b in books:
        xt = epoch_ms(b.exchange_time) if b.exchange_time else 0
        defect = book_defect(b)
        if defect:
            rejected.append((b.exchange, b.market, defect))
        args += [_field(b.exchange, b.market), book_to_json(b, fetched_at, rejected=defect), t,
                 xt]
    book_rejections_note(rejected, source=POLL, at=fetched_at)
    if len(args) == 2:
        return 0
    return int(redis_client().eval(_STORE, 2, _books_key(), books_meta_key(), *args))


def books_latest() -> dict[tuple[str, str], CachedBook]:
    """Every cached book by (exchange, market), in one round trip."""
    raw = redis_client().hgetall(_books_key())
    result: dict[tuple[str, str], CachedBook] = {}
    for text in raw.values():
        book, fetched_at, source, rejected = _book_from_json(text)
        result[(book.exchange, book.market)] = CachedBook(book, fetched_at, source, rejected)
    return result


def books_clear() -> None:
    redis_client().delete(_books_key(), books_meta_key())
