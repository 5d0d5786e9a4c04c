"""The exchange layer's value objects: what every adapter returns.

Adapters never hand raw JSON to the rest of the project. Every figure here is
a ``Decimal`` in *project units* (rial for IRR-quoted markets, whatever the
exchange itself quotes in) and every time is a timezone-aware UTC datetime.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from exchanges.states import OrderState


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """One exchange's book for one canonical market.

    ``bids`` are best (highest) first, ``asks`` best (lowest) first.
    ``exchange_time`` is the exchange's own timestamp where it gives one
    (Nobitex ``lastUpdate``); ``received_at`` is always set, so the age of a
    book can be judged even when the exchange says nothing.
    """

    exchange: str
    market: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    received_at: datetime
    exchange_time: datetime | None = None

    @property
    def best_bid(self) -> BookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        return self.asks[0] if self.asks else None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the project means it, before exchange rounding.

    ``price`` is in project units and required for limit orders; for a market
    order it may carry the expected price, used only for the local minimum
    order value check (it is not sent).
    """

    market: str
    side: Side
    type: OrderType
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``trade_id`` is unique per exchange: the exchange's own id
    where it gives one, else a deterministic digest (see ``synthetic_trade_id``)."""

    trade_id: str
    market: str
    side: Side | None
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    timestamp: datetime | None
    exchange_order_id: str | None = None
    client_order_id: str | None = None
    is_maker: bool | None = None


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the exchange reports it, mapped onto ``OrderState``."""

    exchange: str
    market: str
    state: OrderState
    exchange_order_id: str | None
    client_order_id: str | None
    side: Side | None
    type: OrderType | None
    price: Decimal | None
    quantity: Decimal | None
    filled_quantity: Decimal = Decimal("0")
    average_price: Decimal | None = None
    fee: Decimal | None = None
    fee_asset: str | None = None
    fills: tuple[Fill, ...] = ()
    raw_status: str = ""
    created_at: datetime | None = None

    @property
    def remaining_quantity(self) -> Decimal | None:
        if self.quantity is None:
            return None
        return max(self.quantity - self.filled_quantity, Decimal("0"))


@dataclass(frozen=True, slots=True)
class OrderRef:
    """An order this system knows, to be looked up in bulk (``lookup_orders``).

    ``created_at`` (when it was written down, before sending) bounds how far
    back a newest-first list must be read. ``side``, ``quantity`` and
    ``price`` (project units; None for a market order) let an exchange whose
    order lists do not name client order ids (Nobitex, ``details=2``) match
    a lost-answer order by what it was; without them such an order can be
    proven absent (no order at all in its market and time window) but never
    guessed present.
    """

    client_order_id: str
    exchange_order_id: str | None = None
    market: str | None = None
    created_at: datetime | None = None
    quantity: Decimal | None = None
    side: Side | None = None
    price: Decimal | None = None


@dataclass
class OrdersLookup:
    """What the exchange said about a batch of orders, by client order id.

    ``not_found`` holds only explicit not-found answers; ``errors`` the
    orders it could not be asked about (timeout, 5xx, rate limit) or whose
    answer cannot be classified: those say nothing about whether the order
    exists. ``unclear`` are those of ``errors`` that the exchange did answer,
    in a way that cannot be classified (an undocumented answer, two listed
    orders it could be): asking again will not settle them, a human must.
    """

    found: dict[str, ExchangeOrder] = field(default_factory=dict)
    not_found: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    unclear: set[str] = field(default_factory=set)
    calls: int = 0


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance, in project assets (Wallex TMN is reported as IRR, in rial)."""

    asset: str
    total: Decimal
    available: Decimal
    locked: Decimal = field(default=Decimal("0"))


def synthetic_trade_id(*parts: object) -> str:
    """A stable id for a fill the exchange gives no id for.

    The same fill read twice (by the poller and by recovery) must get the same
    id, so the database's unique (exchange, trade id) holds; the digest is over
    the fill's identifying fields, in their exchange string form.
    """
    text = "|".join("" if part is None else str(part) for part in parts)
    return "x-" + hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One listing's trading rules as the exchange publishes them, in project units.

    ``market`` is the canonical code when the listing is configured here,
    else None (the exchange lists many markets this project does not trade).
    ``price_tick``, ``min_order_value`` and ``max_order_value`` are in
    project units (rial for IRR markets, whatever the exchange quotes in).
    Any rule the exchange does not give is None.
    """

    exchange: str
    symbol: str
    market: str | None
    amount_step: Decimal | None = None
    price_tick: Decimal | None = None
    min_quantity: Decimal | None = None
    max_quantity: Decimal | None = None
    min_order_value: Decimal | None = None
    max_order_value: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FeeRate:
    """The account's fee rates for one listing (``symbol`` "*" = every market),
    as fractions (0.002 = 0.2%)."""

    exchange: str
    symbol: str
    market: str | None
    maker: Decimal | None
    taker: Decimal | None
