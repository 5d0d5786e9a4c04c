"""Bench figures on streamed books (issue 14, item 7), each beside one Celery hop
through the same Redis to the same worker, measured in the same run:

* ``message-to-orders`` — (a) from a book change reaching the streamer (its
  receipt time, stored with the book) to both place requests received by the
  sandbox, through a real ``stream_books`` process and a real worker, with the
  time of each stage; and (b) the book age at decision, streamed against polled
  (beat's one-second poll) on the same sandbox scenario and the same changes:
  the time from the exchange changing the book to the decision's row.
* ``streamer-cost`` — (c) the streamer's CPU and memory for 3 exchanges × 20
  markets at 10 changes per second per book, held 5 minutes
  (``BENCH_STREAMER_SECONDS`` shortens it), with its RSS at the start and end.

Both run in a child process (``arbsite.bench.streamed_run``) on a database,
Redis prefix and queue of their own (``pipeline.bench_env``). Quick runs:
``BENCH_QUICK=true`` takes fewer samples (the figures say how many).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from arbsite.bench.pipeline import ROOT, bench_env
from arbsite.bench.registry import BenchOptions, Figure, bench


def _quick() -> bool:
    return bool(settings.BENCH_QUICK)


def _child(*args: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="arbsite-bench-") as tmp:
        database_url = settings.BENCH_DATABASE_URL or f"sqlite:///{tmp}/bench.sqlite3"
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, "-m", "arbsite.bench.streamed_run", *args, "--out",
                        str(out)], cwd=ROOT, env=bench_env(database_url=database_url),
                       check=True, timeout=timeout)
        result = json.loads(out.read_text())
    result["database"] = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    return result


@bench("message-to-orders")
def message_to_orders(options: BenchOptions) -> list[Figure]:
    """(a) message-to-orders p50/p99 with its stages, and (b) book age at
    decision streamed vs polled, beside one Celery hop."""
    quick = _quick()
    iterations = 20 if quick else max(200, options.cycles)
    polled = 5 if quick else 30
    result = _child("--mode", "trade", "--iterations", str(iterations), "--warmup",
                    "2" if quick else "10", "--polled", str(polled), timeout=1800)
    hop = result["hop"]["p50_ms"]
    streamed, polled_run = result["streamed"], result["polled"]
    whys = ", ".join(f"{n} {why}" for why, n in sorted(streamed.get("why", {}).items()))
    note = (f"{streamed['count']} opportunities ({streamed['failed']} not timed"
            f"{': ' + whys if whys else ''}), "
            f"{result['database']}, 1 worker (prefork 2), books from "
            f"{'/'.join(streamed['sources']) or 'nothing'}")

    def hops(value: float) -> float:
        return round(value / hop, 1) if hop else 0.0

    m2o = streamed["message_to_orders"]
    figures = [
        Figure("message-to-orders", "one Celery hop (reference) p50", hop, "ms",
               "delay() to the task running, same Redis and worker, same run"),
        Figure("message-to-orders", "p50", m2o["p50"], "ms", note),
        Figure("message-to-orders", "p50 in hops", hops(m2o["p50"]), "hops", note, "≤ 10"),
        Figure("message-to-orders", "p99", m2o["p99"], "ms", note),
        Figure("message-to-orders", "p99 in hops", hops(m2o["p99"]), "hops", note, "≤ 30"),
    ]
    for stage, label in (("change_to_received", "sandbox change→streamer receipt"),
                         ("received_to_row", "receipt→opportunity row"),
                         ("row_to_claim", "row→claim"),
                         ("claim_to_sent", "claim→both received")):
        figures.append(Figure("message-to-orders", f"stage {label} p50",
                              streamed[stage]["p50"], "ms", "same run"))
    for name, run in (("streamed", streamed), ("polled", polled_run)):
        age = run.get("age_since_change")
        if age is None:
            continue
        goal = "≤ 100 ms" if name == "streamed" else "~500 ms"
        figures.append(Figure(
            "book-age", f"{name}: age at decision p50", age["p50"], "ms",
            f"exchange's change → decision, {run['count']} decisions "
            f"({run['failed']} not traded); recorded age p50 {run['age_recorded']['p50']} ms",
            goal))
    return figures


@bench("streamer-cost")
def streamer_cost(options: BenchOptions) -> list[Figure]:
    """(c) the streamer's CPU and memory: 3 exchanges × 20 markets at 10 changes/s/book."""
    seconds = float(settings.BENCH_STREAMER_SECONDS if not _quick()
                    else min(20, settings.BENCH_STREAMER_SECONDS))
    result = _child("--mode", "cost", "--seconds", str(seconds), "--markets", "20",
                    "--rate", "10", timeout=seconds + 600)
    note = (f"{result['exchanges']} exchanges × {result['markets']} markets (the third a "
            f"second Nobitex-protocol exchange on Nobitex's feed), "
            f"{result['changes_per_second']} sandbox book changes/s, held {result['seconds']} s; "
            f"messages received {sum(result['messages'].values())}")
    drift = round(result["rss_end_mb"] - result["rss_start_mb"], 1)
    return [
        Figure("streamer-cost", "CPU (one core = 100%)", result["cpu_pct"], "%", note),
        Figure("streamer-cost", "RSS at start", result["rss_start_mb"], "MB", note),
        Figure("streamer-cost", "RSS at end", result["rss_end_mb"], "MB",
                f"max {result['rss_max_mb']} MB"),
        Figure("streamer-cost", "RSS end − start", drift, "MB", "flat: about 0", "≈ 0"),
    ]
