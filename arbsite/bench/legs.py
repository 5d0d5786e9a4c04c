"""Bench figure: one-legged round trips.

The share of round trips (done, partial, unwound, failed) that ended
partial, unwound or failed, on the sandbox's default scenario with the
whole system running as ``./run.sh`` runs it, for ``--minutes`` (default
10), streamed and polled, for each buffer in ``--slippage-bps`` (default:
the risk settings' default). Each run is a child process
(``arbsite.bench.legs_run``) on its own database, Redis prefix and queues;
the same seed gives every run the same price path, so runs compare.

The reference beside it: the book age at decision (p50, the older of the
two books) of the same round trips, which is what fresher books change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from arbsite.bench.pipeline import ROOT, bench_env
from arbsite.bench.registry import BenchOptions, Figure, bench

GOAL = "≤ 5 %"
# As run.sh gives the adapters the sandbox's published limits.
SANDBOX_RATE_LIMITS = '{"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}'


def legs_child(*, mode: str, minutes: float, slippage_bps: Decimal | None, seed: int,
               database_url: str, out: Path) -> dict:
    env = bench_env(database_url=database_url)
    env.update({"EXCHANGE_RATE_LIMITS_ENABLED": "true",
                "EXCHANGE_RATE_LIMITS": SANDBOX_RATE_LIMITS})
    command = [sys.executable, "-m", "arbsite.bench.legs_run", "--mode", mode,
               "--minutes", str(minutes), "--seed", str(seed), "--out", str(out)]
    if slippage_bps is not None:
        command += ["--slippage-bps", str(slippage_bps)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=minutes * 60 + 600)
    return json.loads(out.read_text())


@bench("legs")
def legs(options: BenchOptions) -> list[Figure]:
    """One-legged round trips (partial, unwound, failed) on the default scenario,
    streamed and polled, per slippage buffer."""
    figures: list[Figure] = []
    buffers = options.slippage_bps or (None,)
    with tempfile.TemporaryDirectory(prefix="arbsite-bench-") as tmp:
        for number, (mode, bps) in enumerate(
                (mode, bps) for bps in buffers for mode in ("streamed", "polled")):
            database_url = (settings.BENCH_DATABASE_URL
                            or f"sqlite:///{tmp}/legs-{number}.sqlite3")
            result = legs_child(mode=mode, minutes=options.minutes, slippage_bps=bps,
                                seed=options.seed, database_url=database_url,
                                out=Path(tmp) / f"legs-{number}.json")
            database = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(result["statuses"].items()))
            note = (f"{result['one_legged']} of {result['round_trips']} round trips; "
                    f"{statuses}; P&L one-legged {result['pnl_one_legged']} rial of "
                    f"{result['pnl_all']} rial net; {result['minutes']} min, seed "
                    f"{result['seed']}, {database}; reference: book age at decision p50 "
                    f"{result['book_age_p50_ms']} ms")
            if result["still_in_flight"]:
                note += f"; {result['still_in_flight']} still in flight"
            for line in result.get("one_legged_reasons", []):  # what an operator would read
                sys.stderr.write(f"legs {mode} {result['slippage_bps']} bps: {line}\n")
            share = result["share_pct"]
            figures.append(Figure(
                "legs", f"one-legged {mode}, {result['slippage_bps']} bps",
                float("nan") if share is None else share, "%", note, GOAL))
    return figures
