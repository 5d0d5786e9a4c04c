"""The latest book of each market as a stream keeps it: pure state, no I/O.

Both exchanges push full snapshots, never deltas, so a lost message costs
nothing once the next one arrives; what matters is never to go *back* to an
older book, and to know how old the current one is.

* **Nobitex** books carry ``lastUpdate`` (ms) and each publication a Centrifugo
  ``offset`` that grows per channel. A publication whose offset is not above the
  last one of this subscription is a duplicate (equal) or out of order (below);
  one whose ``lastUpdate`` is older than the book held (say, older than the REST
  snapshot taken at subscription) is out of order too. Both are dropped, and
  counted. A jump in offsets is a gap: harmless with full snapshots, counted.
* **Wallex** sends one side per message, no timestamp, no sequence. The book is
  the join of the latest bids and the latest asks, and it is only as fresh as the
  older of the two. An identical side is counted as a duplicate and does not make
  the book younger (it may be an old message delivered twice). Wallex gives no
  way to see that two messages arrived out of order; the later arrival wins.

The age of a book (``OrderBook.received_at``) is the time the exchange last
vouched for its content: the receipt of the push that carried it, or of the REST
snapshot. A healthy connection (pings) does not make a book younger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exchanges.adapters._common import Node, levels
from exchanges.errors import ParseError
from exchanges.markets import MarketSpec
from exchanges.types import BookLevel, OrderBook

from .frames import MalformedFrame, ms_to_utc, utc_to_ms

APPLIED = "applied"
DUPLICATE = "duplicate"
OUT_OF_ORDER = "out_of_order"
PENDING = "pending"  # kept, but the book is not complete yet (one Wallex side)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # APPLIED | DUPLICATE | OUT_OF_ORDER | PENDING
    changed: bool = False  # the content differs from the book held before
    gap: int = 0  # publications skipped (Nobitex offsets)

    @property
    def applied(self) -> bool:
        return self.status == APPLIED


def parse_levels(rows: object, spec: MarketSpec, *, descending: bool) -> tuple[BookLevel, ...]:
    """One side in project units, via the adapters' own unit code (``price_scale``).

    Rows are ``[price, amount]`` pairs (Nobitex) or ``{"price","quantity"}``
    objects (Wallex); numbers arrive as strings or Decimals, never floats."""
    if not isinstance(rows, list):
        raise MalformedFrame(f"levels are not a list: {type(rows).__name__}")
    pairs = []
    for row in rows:
        if isinstance(row, dict):
            pair = (row.get("price"), row.get("quantity"))
        elif isinstance(row, list | tuple) and len(row) >= 2:
            pair = (row[0], row[1])
        else:
            raise MalformedFrame(f"a level is neither [price, amount] nor an object: {row!r}")
        if any(isinstance(v, float | bool) or v is None for v in pair):
            raise MalformedFrame(f"a level has a value that is not a number: {row!r}")
        pairs.append((Node(pair[0], "price"), Node(pair[1], "amount")))
    try:
        parsed = levels(pairs, spec.price_scale, descending=descending)
    except (ParseError, ValueError, ArithmeticError) as exc:
        raise MalformedFrame(f"a level is not numeric: {exc}") from None
    if any(level.price <= 0 for level in parsed):
        raise MalformedFrame("a level has a price that is not positive")
    return parsed


class NobitexBook:
    """One ``public:orderbook-{SYMBOL}`` channel."""

    def __init__(self, exchange: str, spec: MarketSpec) -> None:
        self.exchange = exchange
        self.spec = spec
        self.book: OrderBook | None = None
        self.last_update: int | None = None  # ms, of the book held
        self.offset: int | None = None  # last offset of this subscription

    def resubscribed(self) -> None:
        """A new subscription: offsets start again; the book is kept (and ages)."""
        self.offset = None

    def push(self, data: object, offset: int | None, received: datetime) -> Outcome:
        if not isinstance(data, dict):
            raise MalformedFrame("publication data is not an object")
        if offset is not None and self.offset is not None:
            if offset == self.offset:
                return Outcome(DUPLICATE)
            if offset < self.offset:
                return Outcome(OUT_OF_ORDER)
        raw = data.get("lastUpdate")
        try:
            last_update = int(raw) if raw is not None else None
        except (TypeError, ValueError, ArithmeticError):
            raise MalformedFrame(f"lastUpdate is not a number: {raw!r}") from None
        if "bids" not in data or "asks" not in data:
            raise MalformedFrame("publication data has no bids or asks")
        bids = parse_levels(data["bids"], self.spec, descending=True)
        asks = parse_levels(data["asks"], self.spec, descending=False)
        if last_update is not None and self.last_update is not None:
            if last_update < self.last_update:
                self._seen(offset)
                return Outcome(OUT_OF_ORDER)
        changed = self.book is None or (bids, asks) != (self.book.bids, self.book.asks)
        if not changed and offset is None and last_update == self.last_update:
            return Outcome(DUPLICATE)  # nothing tells it from a repeat: no younger book
        gap = offset - self.offset - 1 if offset is not None and self.offset is not None else 0
        self._seen(offset)
        self.last_update = last_update if last_update is not None else self.last_update
        self.book = OrderBook(
            exchange=self.exchange, market=self.spec.market, bids=bids, asks=asks,
            received_at=received,
            exchange_time=ms_to_utc(last_update) if last_update is not None else None,
        )
        return Outcome(APPLIED, changed=changed, gap=max(gap, 0))

    def snapshot(self, book: OrderBook) -> Outcome:
        """A REST book (the adapter's ``get_order_book``), unless a push was newer."""
        last_update = utc_to_ms(book.exchange_time) if book.exchange_time else None
        if (last_update is not None and self.last_update is not None
                and last_update < self.last_update):
            return Outcome(OUT_OF_ORDER)
        changed = self.book is None or (book.bids, book.asks) != (self.book.bids, self.book.asks)
        if self.book is not None and book.received_at < self.book.received_at:
            return Outcome(OUT_OF_ORDER)  # a push arrived while the snapshot was on its way
        self.book = book
        self.last_update = last_update if last_update is not None else self.last_update
        return Outcome(APPLIED, changed=changed)

    def _seen(self, offset: int | None) -> None:
        if offset is not None:
            self.offset = offset


BIDS, ASKS = "bids", "asks"


class WallexBook:
    """``{SYMBOL}@buyDepth`` (bids) and ``{SYMBOL}@sellDepth`` (asks) joined."""

    def __init__(self, exchange: str, spec: MarketSpec) -> None:
        self.exchange = exchange
        self.spec = spec
        self.sides: dict[str, tuple[BookLevel, ...] | None] = {BIDS: None, ASKS: None}
        self.at: dict[str, datetime | None] = {BIDS: None, ASKS: None}
        self.book: OrderBook | None = None
        # When the joined sides first crossed (None: they do not). Each side
        # comes alone, so a market that moved shows its new side against the
        # other's old one for a moment: a torn join, not a crossed book.
        self.crossed_since: datetime | None = None

    def resubscribed(self) -> None:
        pass

    def push(self, side: str, rows: object, received: datetime) -> Outcome:
        parsed = parse_levels(rows, self.spec, descending=side == BIDS)
        if self.sides[side] is not None and parsed == self.sides[side]:
            return Outcome(DUPLICATE)
        self.sides[side], self.at[side] = parsed, received
        return self._join(changed=True)

    def snapshot(self, book: OrderBook, *, requested_at: datetime) -> Outcome:
        """A REST book; a side pushed after the request was sent is kept."""
        changed = False
        for side, parsed in ((BIDS, book.bids), (ASKS, book.asks)):
            pushed_at = self.at[side]
            if pushed_at is not None and pushed_at >= requested_at:
                continue
            changed = changed or parsed != self.sides[side]
            self.sides[side], self.at[side] = parsed, book.received_at
        return self._join(changed=changed)

    def adopt(self, stored: OrderBook) -> bool:
        """Take each side from a book stored by someone else (the poller) that is
        newer than ours; returns whether anything was taken."""
        taken = False
        for side, parsed in ((BIDS, stored.bids), (ASKS, stored.asks)):
            at = self.at[side]
            if at is None or stored.received_at > at:
                self.sides[side], self.at[side] = tuple(parsed), stored.received_at
                taken = True
        if taken:
            self._join(changed=False)
        return taken

    def _join(self, *, changed: bool) -> Outcome:
        bids, asks = self.sides[BIDS], self.sides[ASKS]
        if bids is None or asks is None:
            return Outcome(PENDING)
        bids_at, asks_at = self.at[BIDS], self.at[ASKS]
        assert bids_at is not None and asks_at is not None
        if bids and asks and bids[0].price >= asks[0].price:
            # Crossed: held back until both sides have come again since it was
            # first seen (a torn join heals when the other side arrives); one
            # that stays crossed is published, and the sanity check refuses it.
            if self.crossed_since is None:
                self.crossed_since = max(bids_at, asks_at)
            if min(bids_at, asks_at) <= self.crossed_since:
                return Outcome(PENDING)
        else:
            self.crossed_since = None
        self.book = OrderBook(
            exchange=self.exchange, market=self.spec.market, bids=bids, asks=asks,
            received_at=min(bids_at, asks_at),
        )
        return Outcome(APPLIED, changed=changed)

