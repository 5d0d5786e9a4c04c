"""The simulated exchanges as a whole: prices, books, engines, faults and rate limits.

Everything the HTTP layer and the control API act on, with no HTTP in it, so tests can
drive it in-process. A ticker thread advances the price model and rebuilds books.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial

from .accounts import SandboxAccount
from .books import Book, PriceModel, build_book
from .engine import Engine, Order
from .faults import Faults
from .markets import EXCHANGES, MARKETS
from .ratelimit import RateLimiter
from .variants import Variants
from .wire.common import dec, fmt, iso, now_ms
from .wire.invex import InvexWire
from .wire.nobitex import NobitexWire
from .wire.wallex import WallexWire

logger = logging.getLogger(__name__)

WIRES = {"nobitex": NobitexWire, "wallex": WallexWire, "invex": InvexWire}


class SandboxWorld:
    """State of all three simulated exchanges."""

    def __init__(self, *, scenario: str = "default", seed: int | None = None,
                 faults: str | None = None, rate_limits: bool = True,
                 invex_cancel_delay: float = 0.3,
                 variants: dict[str, str] | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.invex_cancel_delay = invex_cancel_delay
        self.variants = Variants(variants)
        self.faults = Faults(faults, seed)
        self.limiter = RateLimiter(rate_limits)
        self.model_lock = threading.Lock()
        self.drift_paused = False
        self._accounts: list[SandboxAccount] = []
        # Called with (exchange, symbol) after a book changed, (exchange, None) when
        # any book of it may have (the websocket side pushes from these).
        self.book_listeners: list[Callable[[str, str | None], None]] = []
        self._generation = 0
        self._build()

    def _build(self) -> None:
        self.model = PriceModel(self.scenario, self.seed)
        self.engines = {
            ex: Engine(
                ex, seed=self.seed,
                cancel_delay=self.invex_cancel_delay if ex == "invex" else 0.0,
                client_id_scope="open" if ex == "nobitex" else "all",
                round_to_precision=ex == "nobitex",
            )
            for ex in EXCHANGES
        }
        for ex, engine in self.engines.items():
            engine.book_view = partial(self.faults.served, ex)  # crossed/swapped books
        self.wires = {ex: WIRES[ex](self.engines[ex], self.variants) for ex in EXCHANGES}
        stamp = now_ms()
        for ex, engine in self.engines.items():
            with engine.lock:
                for symbol, mkt in MARKETS[ex].items():
                    engine.books[symbol] = build_book(mkt, self.model.price(mkt), stamp)
        for account in self._accounts:
            self.engines[account.exchange].register(copy.deepcopy(account))

    # -- time -----------------------------------------------------------------------

    def tick(self) -> None:
        """One step of the simulation: prices move, books follow, async cancels land."""
        with self.model_lock:
            moving = self.model.drift and not self.drift_paused
            if moving:
                self.model.step()
            prices = {
                (ex, symbol): self.model.price(mkt)
                for ex in EXCHANGES for symbol, mkt in MARKETS[ex].items()
            } if moving else {}
        stamp = now_ms()
        for ex, engine in self.engines.items():
            changed = []
            with engine.lock:
                for symbol, mkt in MARKETS[ex].items():
                    if moving and not engine.book(symbol).frozen:
                        engine.set_book(symbol, build_book(mkt, prices[(ex, symbol)], stamp))
                        changed.append(symbol)
                engine.process_due()
            for symbol in changed:
                self.books_changed(ex, symbol)

    def step(self, ticks: int = 1) -> None:
        """Advance the model by ``ticks`` even when drift is paused (tests)."""
        for _ in range(ticks):
            paused, self.drift_paused = self.drift_paused, False
            try:
                self.tick()
            finally:
                self.drift_paused = paused

    def open_spread(self, exchange: str, base: str, quote: str, offset: Decimal,
                    ticks: int = 20) -> None:
        """Push one exchange's price for a market by ``offset`` (0.012 = +1.2%)."""
        with self.model_lock:
            self.model.open_spread(exchange, (base, quote), Decimal(offset), ticks)

    # -- control --------------------------------------------------------------------

    def add_account(self, account: SandboxAccount) -> None:
        self._accounts = [
            a for a in self._accounts
            if (a.exchange, a.api_key) != (account.exchange, account.api_key)
        ] + [account]
        engine = self.engines[account.exchange]
        with engine.lock:
            engine.register(copy.deepcopy(account))

    def set_book(self, exchange: str, symbol: str, asks: list, bids: list,
                 freeze: bool = True) -> None:
        """Set a book exactly, in the exchange's own units; resting orders may fill."""
        engine = self.engines[exchange]
        if symbol not in engine.markets:
            raise ValueError(f"{exchange} has no market {symbol}")
        book = Book(
            asks=sorted(([_d(p), _d(q)] for p, q in asks), key=lambda lv: lv[0]),
            bids=sorted(([_d(p), _d(q)] for p, q in bids), key=lambda lv: lv[0], reverse=True),
            frozen=freeze, updated_ms=now_ms(),
        )
        with engine.lock:
            engine.set_book(symbol, book)
        self.books_changed(exchange, symbol)

    def books_changed(self, exchange: str, symbol: str | None = None) -> None:
        """Tell the listeners; a failing listener never breaks the world."""
        for listener in list(self.book_listeners):
            try:
                listener(exchange, symbol)
            except Exception:
                logger.exception("book listener failed (%s %s)", exchange, symbol)

    def served_books_changed(self) -> None:
        """Faults changed: every book may be served differently now (crossed,
        swapped), so the websockets push them again."""
        for exchange in self.engines:
            self.books_changed(exchange)

    def unfreeze(self, exchange: str, symbol: str | None = None) -> None:
        engine = self.engines[exchange]
        with engine.lock:
            for sym in [symbol] if symbol else list(engine.books):
                engine.book(sym).frozen = False

    def version(self) -> tuple[int, int]:
        """(resets, changes summed over the engines): the state writer compares it."""
        return self._generation, sum(engine.version for engine in self.engines.values())

    def to_state(self) -> dict:
        out = {}
        for ex, engine in self.engines.items():
            with engine.lock:
                out[ex] = engine.to_state()
        return {"exchanges": out}

    def restore(self, state: dict, *, keep_closed_seconds: float) -> None:
        for ex, engine_state in state["exchanges"].items():
            if ex not in self.engines:
                raise ValueError(f"unknown exchange {ex!r}")
            engine = self.engines[ex]
            with engine.lock:
                engine.restore(engine_state, keep_closed_seconds=keep_closed_seconds)

    def reset(self) -> None:
        """Back to the start: fresh prices, books, orders, balances; faults cleared.

        Variants and accounts stay; id counters restart at the clock, so ids issued
        before the reset never come back.
        """
        with self.model_lock:
            self.faults.clear()
            self.limiter.reset()
            self.drift_paused = False
            self._generation += 1
            self._build()
        for ex in self.engines:
            self.books_changed(ex)

    def state(self) -> dict:
        out: dict = {
            "scenario": self.scenario,
            "seed": self.seed,
            "drift_paused": self.drift_paused,
            "rate_limits": self.limiter.enabled,
            "faults": self.faults.as_dict(),
            "variants": self.variants.as_dict(),
            "time": iso(time.time()),
            "exchanges": {},
        }
        with self.model_lock:
            out["fair_prices"] = {
                f"{b}-{q}": fmt(self.model.fair((b, q))) for b, q in
                {m.canonical for m in MARKETS["nobitex"].values()}
            }
        for ex, engine in self.engines.items():
            with engine.lock:
                engine.process_due()
                out["exchanges"][ex] = {
                    "counters": engine.counters.as_dict(),
                    "user_agents": sorted(getattr(self.wires[ex], "user_agents", ())),
                    "accounts": [
                        {"api_key": key, "balances": {
                            cur: {"total": fmt(w.total.get(cur, Decimal(0))),
                                  "blocked": fmt(w.blocked.get(cur, Decimal(0))),
                                  "available": fmt(w.available(cur))}
                            for cur in sorted(set(w.total) | set(w.blocked))
                        }}
                        for key, w in engine.wallets.items()
                    ],
                    "orders": [order_state(o) for o in engine.orders.values()],
                    "books": {
                        sym: {"best_bid": fmt(b.best_bid()), "best_ask": fmt(b.best_ask()),
                              "frozen": b.frozen}
                        for sym, b in engine.books.items()
                    },
                }
        return out


def order_state(order: Order) -> dict:
    """An order in the sandbox's own neutral vocabulary (for the control API)."""
    return {
        "id": order.id, "uuid": order.uuid, "api_key": order.api_key,
        "client_order_id": order.client_id, "symbol": order.symbol, "side": order.side,
        "kind": order.kind, "price": fmt(order.price), "amount": fmt(order.amount),
        "status": order.status, "canceled_by": order.canceled_by,
        "cancel_pending": order.cancel_due is not None,
        "filled": fmt(order.filled), "filled_total": fmt(order.filled_total),
        "fee": fmt(order.fee), "fee_currency": order.fee_currency,
        "created_at": iso(order.created_at),
        "fills": [
            {"trade_id": f.trade_id, "price": fmt(f.price), "amount": fmt(f.amount),
             "fee": fmt(f.fee), "maker": f.maker, "at": iso(f.at)}
            for f in order.fills
        ],
    }


def _d(value: object) -> Decimal:
    d = dec(value)
    if d is None or d < 0:
        raise ValueError(f"not a non-negative decimal: {value!r}")
    return d
