"""The registry behind ``python manage.py bench``.

A benchmark is a function decorated with ``@bench("name")`` that returns a
list of ``Figure``s; each lives in a module of this package named in
``BENCH_MODULES``, and the command prints them all as one table or JSON.
Benchmarks start what they need themselves (a sandbox, a database of their
own), so a figure is reproducible on any machine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

BenchFunction = Callable[["BenchOptions"], list["Figure"]]
REGISTRY: dict[str, BenchFunction] = {}
# Modules whose import registers more benchmarks (missing ones are skipped).
BENCH_MODULES = (
    "arbsite.bench.books", "arbsite.bench.detection", "arbsite.bench.pipeline",
    "arbsite.bench.reports", "arbsite.bench.recovery", "arbsite.bench.naked_leg",
    "arbsite.bench.admin_lists", "arbsite.bench.streamed", "arbsite.bench.legs",
)


@dataclass(frozen=True)
class BenchOptions:
    cycles: int = 20
    latency_ms: int = 50
    orders: int = 1_000_000  # the admin bench's table size
    minutes: float = 10.0  # how long a run of the whole system lasts (the legs bench)
    slippage_bps: tuple[Decimal, ...] = ()  # buffers the legs bench compares (none: default)
    seed: int = 1


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    value: float
    unit: str
    note: str = ""
    goal: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bench(name: str) -> Callable[[BenchFunction], BenchFunction]:
    def register(function: BenchFunction) -> BenchFunction:
        REGISTRY[name] = function
        return function

    return register


def load_benchmarks() -> dict[str, BenchFunction]:
    for module in BENCH_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return dict(REGISTRY)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
