"""Bench figure: the exchange layer fetching books concurrently from the
sandbox (``manage.py bench --only books``)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from arbsite.bench.registry import BenchOptions, Figure, bench, percentile

BENCH_MARKETS = ("BTC-IRR", "ETH-IRR", "USDT-IRR", "BTC-USDT", "ETH-USDT")


def _sandbox_adapters(server: Any) -> list[Any]:
    from exchanges.catalog import default_listing
    from exchanges.interface import AdapterConfig
    from exchanges.markets import MarketSpec
    from exchanges.registry import build_adapter

    adapters = []
    for kind in ("nobitex", "wallex", "invex"):
        specs = {}
        for code in BENCH_MARKETS:
            base, quote = code.split("-")
            d = default_listing(kind, base, quote)
            specs[code] = MarketSpec(code, d.symbol, d.price_scale, d.amount_step,
                                     d.price_tick, d.min_order_value)
        # Rate limits off (as the sandbox's are): the figure is about concurrency.
        adapters.append(build_adapter(kind, AdapterConfig(
            name=kind, base_url=server.base_url(kind), markets=specs, read_retries=0,
        )))
    return adapters


@bench("books")
def books_concurrent(options: BenchOptions) -> list[Figure]:
    """15 books (3 exchanges × 5 markets) fetched concurrently from the sandbox
    with injected latency: a cycle should cost about one request, not fifteen."""
    from exchanges.fetch import fetch_books
    from exchanges.sandbox import SandboxServer
    from exchanges.types import OrderBook

    server = SandboxServer(scenario="static", seed=1, rate_limits=False,
                           faults=f"all:latency={options.latency_ms}").start()
    adapters = _sandbox_adapters(server)
    pairs = [(adapter, market) for adapter in adapters for market in BENCH_MARKETS]
    try:
        fetch_books(pairs)  # warm-up: connections opened, pool threads started
        singles = []
        for _ in range(options.cycles):
            started = time.perf_counter()
            adapters[0].get_order_book("BTC-IRR")
            singles.append(time.perf_counter() - started)
        cycles, failures = [], 0
        for _ in range(options.cycles):
            started = time.perf_counter()
            books = fetch_books(pairs)
            cycles.append(time.perf_counter() - started)
            failures += sum(not isinstance(b, OrderBook) for b in books.values())
    finally:
        for adapter in adapters:
            adapter.close()
        server.stop()
    single = statistics.median(singles)
    median = statistics.median(cycles)
    context = (f"{len(pairs)} books, {options.latency_ms} ms injected latency, "
               f"{options.cycles} cycles")
    return [
        Figure("books", "single request (median)", single * 1000, "ms", context),
        Figure("books", "cycle of 15 books (median)", median * 1000, "ms", context),
        Figure("books", "cycle of 15 books (p90)", percentile(cycles, 0.9) * 1000, "ms", context),
        Figure("books", "cycle / single request", median / single, "×", context, goal="≤ 1.5"),
        Figure("books", "failed fetches", failures, "books", context, goal="0"),
    ]
