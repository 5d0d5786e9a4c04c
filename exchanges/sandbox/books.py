"""Order books and the price simulation that moves them.

A shared fair price per canonical market follows a seeded random walk; each exchange
sees it through its own noise and, now and then, a dislocation big enough to open a
cross-exchange spread that beats both taker fees. Books are rebuilt from those prices
on every tick; liquidity a taker consumed stays consumed until the next rebuild.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from .markets import (
    BTC_USDT,
    CANONICAL_MARKETS,
    ETH_USDT,
    EXCHANGES,
    LEVEL_LOT,
    USDT_IRR,
    Market,
)

LEVELS = 25
HALF_SPREAD = Decimal("0.0004")  # 4 bps from mid to the best level
LEVEL_GAP = Decimal("0.0003")  # 3 bps between levels

Level = tuple[Decimal, Decimal]  # (price, amount)


@dataclass
class Book:
    """One side-sorted book: asks ascending, bids descending, in native units."""

    asks: list[list[Decimal]] = field(default_factory=list)
    bids: list[list[Decimal]] = field(default_factory=list)
    frozen: bool = False  # set by the control API: drift does not rebuild it
    updated_ms: int = 0

    def snapshot(self, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        asks = [(p, q) for p, q in self.asks if q > 0][:depth]
        bids = [(p, q) for p, q in self.bids if q > 0][:depth]
        return asks, bids

    def best_ask(self) -> Decimal | None:
        return next((p for p, q in self.asks if q > 0), None)

    def best_bid(self) -> Decimal | None:
        return next((p for p, q in self.bids if q > 0), None)

    def mid(self) -> Decimal | None:
        a, b = self.best_ask(), self.best_bid()
        if a is None or b is None:
            return a or b
        return (a + b) / 2


def quantize(value: Decimal, step: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """Round ``value`` to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=rounding) * step


def build_book(mkt: Market, mid: Decimal, now_ms: int) -> Book:
    """Levels around ``mid`` (native units), on the market's tick and step."""
    asks: list[list[Decimal]] = []
    bids: list[list[Decimal]] = []
    lot = LEVEL_LOT[mkt.base]
    for i in range(LEVELS):
        offset = HALF_SPREAD + LEVEL_GAP * i
        ask = quantize(mid * (1 + offset), mkt.tick, ROUND_CEILING)
        bid = quantize(mid * (1 - offset), mkt.tick, ROUND_FLOOR)
        if asks and ask <= asks[-1][0]:
            ask = asks[-1][0] + mkt.tick
        if bids and bid >= bids[-1][0]:
            bid = bids[-1][0] - mkt.tick
        size = quantize(lot * (1 + Decimal(i % 5) / 4), mkt.step)
        asks.append([ask, size])
        if bid > 0:
            bids.append([bid, size])
    return Book(asks=asks, bids=bids, updated_ms=now_ms)


@dataclass
class Dislocation:
    """A temporary offset of one exchange's price for one market."""

    exchange: str
    canonical: tuple[str, str]
    offset: Decimal
    until_tick: int


SCENARIOS = {
    # name: (drift on, mean ticks between spread events, (min, max) event length in ticks)
    "default": (True, 24, (8, 20)),
    "spready": (True, 6, (12, 24)),
    "static": (False, 0, (0, 0)),
}


class PriceModel:
    """The fair prices and per-exchange views of them. Not thread-safe: the caller locks."""

    TICK_SECONDS = 0.25

    def __init__(self, scenario: str = "default", seed: int | None = None) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
        self.scenario = scenario
        self.drift, self.event_every, self.event_len = SCENARIOS[scenario]
        self.rng = random.Random(seed)
        self.tick = 0
        self.usdt_irr = USDT_IRR
        self.usd = {"BTC": BTC_USDT, "ETH": ETH_USDT}
        self.noise: dict[tuple[str, tuple[str, str]], Decimal] = {
            (ex, cm): Decimal(0) for ex in EXCHANGES for cm in CANONICAL_MARKETS
        }
        self.dislocations: list[Dislocation] = []

    def fair(self, canonical: tuple[str, str]) -> Decimal:
        """Fair price in canonical units (rial or USDT)."""
        base, quote = canonical
        if base == "USDT":
            return self.usdt_irr
        usd = self.usd[base]
        return usd * self.usdt_irr if quote == "IRR" else usd

    def price(self, mkt: Market) -> Decimal:
        """The mid an exchange shows for a market, in native units."""
        offset = self.noise[(mkt.exchange, mkt.canonical)]
        for d in self.dislocations:
            if d.exchange == mkt.exchange and d.canonical == mkt.canonical:
                offset += d.offset
        return self.fair(mkt.canonical) * (1 + offset) * mkt.price_factor

    def step(self) -> None:
        """Advance one tick: random walk, noise, spread events."""
        self.tick += 1
        if not self.drift:
            return
        self.usdt_irr *= 1 + self._gauss(Decimal("0.0002"))
        for base in self.usd:
            self.usd[base] *= 1 + self._gauss(Decimal("0.0004"))
        for key, value in self.noise.items():
            # mean-reverting noise of a few basis points
            self.noise[key] = value * Decimal("0.8") + self._gauss(Decimal("0.0003"))
        self.dislocations = [d for d in self.dislocations if d.until_tick > self.tick]
        if self.rng.random() < 1 / self.event_every:
            self._open_spread()

    def open_spread(self, exchange: str, canonical: tuple[str, str], offset: Decimal,
                    ticks: int) -> None:
        """Force a dislocation (the control API and tests use it)."""
        self.dislocations.append(Dislocation(exchange, canonical, offset, self.tick + ticks))

    def _open_spread(self) -> None:
        exchange = self.rng.choice(EXCHANGES)
        canonical = self.rng.choice(CANONICAL_MARKETS)
        size = Decimal(str(round(self.rng.uniform(0.011, 0.02), 4)))
        sign = 1 if self.rng.random() < 0.5 else -1
        length = self.rng.randint(*self.event_len)
        self.open_spread(exchange, canonical, size * sign, length)

    def _gauss(self, sigma: Decimal) -> Decimal:
        return Decimal(str(round(self.rng.gauss(0.0, 1.0), 6))) * sigma
