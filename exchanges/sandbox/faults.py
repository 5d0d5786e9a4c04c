"""Fault injection: what can go wrong between an adapter and an exchange.

Spec vocabulary (``--faults`` and ``POST /_sandbox/faults``), comma separated
``EXCHANGE:NAME=VALUE`` items, ``all`` meaning every exchange:

- ``latency=MS``      milliseconds added to every answer
- ``error5xx=P``      probability of a 500/502/503 (request not executed)
- ``ratelimit=P``     probability of a 429 with back-off (request not executed)
- ``timeout=P``       probability of hanging without answering (request not executed)
- ``malformed=P``     probability of a 200 with a truncated, non-JSON body (not executed)
- ``lost_answer=P``   probability that a place order IS executed but the client gets a
                      502 or a dropped connection instead of the answer
- ``down=1``          every request refused with 503; ``down=close`` drops the connection
- ``crossed=PCT``     hostile books: every book is served with one extra bid PCT percent
                      above its best ask (amount: the best bid's), REST and websocket alike
- ``swapped=1``       hostile books: every book is served with its bids and asks swapped

The two book faults change only what is *served*: the matching engine matches
against the real book, so an order priced at the phantom bid rests or fills
at the real prices, as on an exchange that published a bad book.

Draws come from one seeded RNG per exchange, so a sequential run is reproducible.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .markets import EXCHANGES

PROBABILITIES = ("error5xx", "ratelimit", "timeout", "malformed", "lost_answer")
BOOK_FAULTS = ("crossed", "swapped")
NAMES = (*PROBABILITIES, "latency", "down", *BOOK_FAULTS)
Level = tuple[Decimal, Decimal]


@dataclass
class ExchangeFaults:
    latency_ms: float = 0.0
    down: str | None = None  # None | "503" | "close"
    p: dict[str, float] = field(default_factory=dict)
    crossed_pct: Decimal | None = None  # one bid this percent above the best ask
    swapped: bool = False  # bids served as asks and asks as bids

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: v for k, v in self.p.items() if v}
        if self.latency_ms:
            out["latency"] = self.latency_ms
        if self.down:
            out["down"] = self.down
        if self.crossed_pct is not None:
            out["crossed"] = str(self.crossed_pct)
        if self.swapped:
            out["swapped"] = True
        return out

    def served(self, asks: list[Level], bids: list[Level]) -> tuple[list[Level], list[Level]]:
        """The book as this exchange serves it (asks, bids): as it is, or hostile."""
        if self.crossed_pct is not None and asks and bids:
            best_ask = asks[0][0]
            phantom = (best_ask * (1 + self.crossed_pct / 100)).quantize(best_ask)
            bids = [(phantom, bids[0][1]), *bids]
        if self.swapped:
            asks, bids = bids, asks
        return asks, bids


def parse_spec(spec: str | None) -> dict[str, dict[str, str]]:
    """``"nobitex:latency=50,all:error5xx=0.2"`` -> {exchange: {name: value}}."""
    out: dict[str, dict[str, str]] = {}
    for raw in (spec or "").split(","):
        item = raw.strip()
        if not item:
            continue
        target, _, setting = item.partition(":")
        name, eq, value = setting.partition("=")
        name = name.strip()
        if not eq or name not in NAMES:
            raise ValueError(f"bad fault {item!r}: expected EXCHANGE:NAME=VALUE, NAME in {NAMES}")
        targets = EXCHANGES if target == "all" else (target,)
        for exchange in targets:
            if exchange not in EXCHANGES:
                raise ValueError(f"bad fault {item!r}: unknown exchange {target!r}")
            out.setdefault(exchange, {})[name] = value.strip()
    return out


class Faults:
    """Current fault settings per exchange, and the seeded dice."""

    def __init__(self, spec: str | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rngs = {ex: random.Random(f"{seed}-{ex}-faults") for ex in EXCHANGES}
        self._by_exchange = {ex: ExchangeFaults() for ex in EXCHANGES}
        self.apply(spec, replace=True)

    def apply(self, spec: str | dict | None, *, replace: bool = False) -> None:
        """Set faults from a spec string (or parsed dict); ``replace`` clears the rest first."""
        parsed = spec if isinstance(spec, dict) else parse_spec(spec)
        with self._lock:
            if replace:
                self._by_exchange = {ex: ExchangeFaults() for ex in EXCHANGES}
            for exchange, settings in parsed.items():
                current = self._by_exchange[exchange]
                for name, value in settings.items():
                    self._set(current, name, str(value))

    def clear(self) -> None:
        self.apply(None, replace=True)

    def get(self, exchange: str) -> ExchangeFaults:
        return self._by_exchange[exchange]

    def roll(self, exchange: str, name: str) -> bool:
        """True with the configured probability of ``name`` on ``exchange``."""
        probability = self._by_exchange[exchange].p.get(name, 0.0)
        if probability <= 0:
            return False
        with self._lock:
            return self._rngs[exchange].random() < probability

    def choice(self, exchange: str, options: tuple):
        with self._lock:
            return self._rngs[exchange].choice(options)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {ex: f.as_dict() for ex, f in self._by_exchange.items()}

    def served(self, exchange: str, asks: list[Level], bids: list[Level]
               ) -> tuple[list[Level], list[Level]]:
        """A book of ``exchange`` as it is served (the ``crossed``/``swapped`` faults)."""
        return self._by_exchange[exchange].served(asks, bids)

    @staticmethod
    def _set(faults: ExchangeFaults, name: str, value: str) -> None:
        if name == "latency":
            faults.latency_ms = float(value)
        elif name == "crossed":
            if value.lower() in ("0", "false", "off", "no", ""):
                faults.crossed_pct = None
                return
            try:
                pct = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"crossed must be a percentage, not {value!r}") from None
            if not pct.is_finite() or pct <= 0:
                raise ValueError("crossed must be a percentage above 0 (0 or off lifts it)")
            faults.crossed_pct = pct
        elif name == "swapped":
            faults.swapped = value.lower() not in ("0", "false", "off", "no", "")
        elif name == "down":
            lowered = value.lower()
            if lowered in ("0", "false", "off", "no", ""):
                faults.down = None
            elif lowered == "close":
                faults.down = "close"
            else:
                faults.down = "503"
        else:
            probability = float(value)
            if not 0 <= probability <= 1:
                raise ValueError(f"{name} must be a probability between 0 and 1")
            faults.p[name] = probability
