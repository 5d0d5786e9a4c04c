"""Bench figure: the cost of one detection cycle (``manage.py bench --only
detection``).

The books are synthetic and built in memory — 3 exchanges × 20 markets × 50
levels a side, rial prices around 10⁹ with 6-decimal amounts, so Decimal
works at realistic digit counts — with some markets crossed. The pure core
(``cycle_evaluate``) is timed alone; the "full cycle" adds loading the books
and balances from Redis. The database is left out on purpose: a bench must
never write opportunities (and enqueue executions) into a live database, and
its reads are five small indexed queries that do not grow with books.
"""

from __future__ import annotations

import gc
import random
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from django.test import override_settings
from django.utils import timezone

from arbsite.bench.registry import BenchOptions, Figure, bench, percentile
from exchanges.types import Balance, BookLevel, OrderBook
from trading.detection.cycle import CycleInput, Limits, Listing, MarketListings, cycle_evaluate
from trading.services.balances import CachedBalances, balances_latest, balances_store
from trading.services.books import CachedBook, books_clear, books_latest, books_store

EXCHANGES = (("nobitex", Decimal("0.0025")), ("wallex", Decimal("0.0040")),
             ("invex", Decimal("0.0030")))
MARKETS = 20
LEVELS = 50
GOAL_MS = 10.0
MIN_RUNS = 200


def _side(rng: random.Random, start: int, step_bp: int, sign: int) -> tuple[BookLevel, ...]:
    levels = []
    for k in range(LEVELS):
        price = start * (10_000 + sign * step_bp * k) // 10_000 // 10 * 10  # 10-rial tick
        amount = Decimal(rng.randint(1_000, 500_000)).scaleb(-6)
        levels.append(BookLevel(Decimal(price), amount))
    return tuple(levels)


def synthetic_cycle(*, crossed_every: int = 4, cross_bp: int = 150, seed: int = 1) -> CycleInput:
    """3 × 20 books of 50 levels a side. In every ``crossed_every``-th market the
    first exchange's book sits ``cross_bp`` basis points above the others, so its
    bids beat their asks (after fees) for several levels; the rest are quiet."""
    rng = random.Random(seed)
    now = timezone.now()
    fetched_at = now - timedelta(milliseconds=200)
    books: dict[tuple[str, str], CachedBook] = {}
    markets: list[MarketListings] = []
    for m in range(MARKETS):
        code, base = f"C{m:02d}-IRR", f"C{m:02d}"
        listings = tuple(Listing(name, fee, Decimal("0.000001"), Decimal("3000000"))
                         for name, fee in EXCHANGES)
        markets.append(MarketListings(code, base, "IRR", listings))
        mid = 1_000_000_000 + m * 37_000_000
        for e, (name, _) in enumerate(EXCHANGES):
            shift = cross_bp if (e == 0 and m % crossed_every == 0) else rng.randint(-5, 5)
            centre = mid * (10_000 + shift) // 10_000
            book = OrderBook(
                exchange=name, market=code,
                bids=_side(rng, centre * 9_990 // 10_000, 4, -1),
                asks=_side(rng, centre * 10_010 // 10_000, 4, +1),
                received_at=fetched_at,
            )
            books[(name, code)] = CachedBook(book, fetched_at)
    balances = {
        name: CachedBalances(name, {"IRR": Balance("IRR", Decimal("10") ** 13,
                                                   Decimal("10") ** 13)}
                             | {f"C{m:02d}": Balance(f"C{m:02d}", Decimal(1000), Decimal(1000))
                                for m in range(MARKETS)}, fetched_at)
        for name, _ in EXCHANGES
    }
    limits = Limits(
        max_book_age_ms=3000, min_profit_pct=Decimal("0.1"),
        min_profit_abs={"IRR": Decimal("100000")},
        max_order_value={"IRR": Decimal("10") ** 11}, exposure_room={},
    )
    return CycleInput(markets=markets, books=books, balances=balances, limits=limits, now=now)


def _time_core(data: CycleInput, runs: int, *, frozen: bool = False) -> tuple[list[float], int]:
    """Per-cycle times in ms. ``frozen``: with the start-up heap moved out of the
    garbage collector's reach (``gc.freeze()``), as a worker can do once at start;
    otherwise the occasional full collection scans all of Django and sets the p99."""
    cycle_evaluate(data)  # warm-up
    if frozen:
        gc.collect()
        gc.freeze()
    times, plans = [], 0
    try:
        for _ in range(runs):
            started = time.perf_counter()
            result = cycle_evaluate(data)
            times.append((time.perf_counter() - started) * 1000)
            plans = len(result.plans)
    finally:
        if frozen:
            gc.unfreeze()
    return times, plans


@bench("detection")
def detection_cycle(options: BenchOptions) -> list[Figure]:
    """Detection cycle on 3 exchanges × 20 markets × 50 levels: pure core and
    with the Redis load, against the goal of ≤ 10 ms per cycle."""
    runs = max(MIN_RUNS, options.cycles)
    data = synthetic_cycle()
    core, plans = _time_core(data, runs)
    core_frozen, _ = _time_core(data, runs, frozen=True)
    deep_data = synthetic_cycle(crossed_every=1, cross_bp=400)
    deep, deep_plans = _time_core(deep_data, runs)
    deep_frozen, _ = _time_core(deep_data, runs, frozen=True)

    # Full cycle: the same books through Redis, under a key prefix of its own so a
    # running deployment's books are never touched.
    full: list[float] = []
    with override_settings(REDIS_KEY_PREFIX=f"arbsite-bench-{uuid.uuid4().hex[:8]}"):
        try:
            books_store([cached.book for cached in data.books.values()],
                        fetched_at=next(iter(data.books.values())).fetched_at)
            names = [name for name, _ in EXCHANGES]
            for name in names:
                balances_store(name, data.balances[name].balances)
            for _ in range(runs):
                started = time.perf_counter()
                loaded = CycleInput(markets=data.markets, books=books_latest(),
                                    balances=balances_latest(names), limits=data.limits,
                                    now=data.now)
                cycle_evaluate(loaded)
                full.append((time.perf_counter() - started) * 1000)
        finally:
            from arbsite.redis import key, redis_client

            books_clear()
            redis_client().delete(*(key("balances", name) for name in names))

    context = (f"{len(EXCHANGES)} exchanges × {MARKETS} markets × {LEVELS} levels, "
               f"{runs} cycles")
    goal = f"≤ {GOAL_MS:g}"
    return [
        Figure("detection", "core p50", percentile(core, 0.5), "ms",
               f"{context}, {plans} crossed markets", goal),
        Figure("detection", "core p99", percentile(core, 0.99), "ms", context, goal),
        Figure("detection", "core p99, gc frozen", percentile(core_frozen, 0.99), "ms",
               "after gc.freeze(), as a worker would at start", goal),
        Figure("detection", "core, all crossed p50", percentile(deep, 0.5), "ms",
               f"stress: every market crossed ~40 levels deep, {deep_plans} plans", goal),
        Figure("detection", "core, all crossed p99", percentile(deep, 0.99), "ms",
               "stress: every market crossed", goal),
        Figure("detection", "all crossed p99, gc frozen", percentile(deep_frozen, 0.99), "ms",
               "stress, after gc.freeze()", goal),
        Figure("detection", "full cycle p50", percentile(full, 0.5), "ms",
               "books + balances from Redis + core; DB reads/writes excluded"),
        Figure("detection", "full cycle p99", percentile(full, 0.99), "ms",
               "books + balances from Redis + core; DB reads/writes excluded"),
    ]
