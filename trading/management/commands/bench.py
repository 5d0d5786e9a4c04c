"""``python manage.py bench [--json] [--only NAME …]``: the performance figures.

Each figure comes from a function registered with ``arbsite.bench.registry.bench``;
this command only runs them and prints a table (or JSON).
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from arbsite.bench.registry import BenchOptions, Figure, load_benchmarks


class Command(BaseCommand):
    help = "Run the benchmarks and print their figures (a table, or JSON with --json)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these")
        parser.add_argument("--cycles", type=int, default=20, help="repetitions (default 20)")
        parser.add_argument("--latency-ms", type=int, default=50,
                            help="latency injected by the sandbox (default 50)")
        parser.add_argument("--orders", type=int, default=1_000_000,
                            help="orders the admin bench writes (default 1,000,000; fewer "
                                 "for a quick run)")
        parser.add_argument("--list", action="store_true", help="list the benchmarks")
        parser.add_argument("--minutes", type=float, default=10.0,
                            help="minutes of each run of the whole system (legs; default 10)")
        parser.add_argument("--slippage-bps", type=Decimal, nargs="+", metavar="BPS",
                            help="slippage buffers the legs bench compares "
                                 "(default: the risk settings' default)")
        parser.add_argument("--seed", type=int, default=1,
                            help="the sandbox's price path (legs; default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        registry = load_benchmarks()
        if options["list"]:
            for name, function in sorted(registry.items()):
                summary = (function.__doc__ or "").strip().splitlines()[0:1]
                self.stdout.write(f"{name:<16} {summary[0] if summary else ''}")
            return
        names = options["only"] or sorted(registry)
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise CommandError(f"unknown benchmark(s) {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(registry))})")
        if options["orders"] < 2:
            raise CommandError("--orders must be at least 2")
        if options["minutes"] <= 0:
            raise CommandError("--minutes must be positive")
        if any(b < 0 or not b.is_finite() for b in options["slippage_bps"] or ()):
            raise CommandError("--slippage-bps takes non-negative basis points")
        bench_options = BenchOptions(cycles=options["cycles"], latency_ms=options["latency_ms"],
                                     orders=options["orders"], minutes=options["minutes"],
                                     slippage_bps=tuple(options["slippage_bps"] or ()),
                                     seed=options["seed"])
        figures: list[Figure] = []
        for name in names:
            figures.extend(registry[name](bench_options))
        if options["json"]:
            self.stdout.write(json.dumps([f.as_dict() for f in figures], indent=2))
            return
        self.stdout.write(f"{'bench':<10} {'figure':<30} {'value':>12} {'unit':<6} "
                          f"{'goal':<8} note")
        for f in figures:
            self.stdout.write(f"{f.bench:<10} {f.name:<30} {f.value:>12.2f} {f.unit:<6} "
                              f"{f.goal:<8} {f.note}")
