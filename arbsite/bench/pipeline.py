"""Bench figure: tick-to-trade.

From fresh books in Redis to both place requests received by the exchange,
through a real Celery worker and Redis, against the sandbox with no injected
latency. The run happens in a child process on its own database (a fresh
SQLite file, or ``BENCH_DATABASE_URL``), Redis key prefix and queue, so the
bench never writes into a live deployment.

The child runs with production settings (``DEBUG`` off, its own generated
``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEY``): with ``DEBUG`` on, Django
wraps every cursor to record its queries, which is not what a deployment
pays for.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings

from arbsite.bench.registry import BenchOptions, Figure, bench

ROOT = Path(__file__).resolve().parents[2]


def bench_env(*, database_url: str) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "arbsite.settings",
        # Production-like: DEBUG off, so fresh secrets of its own (the bench's
        # database is thrown away, and so are the credentials encrypted in it).
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "ARBSITE_IGNORE_DOTENV": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": f"arbsite-bench-{run}",
        "CELERY_QUEUE": f"bench-{run}",
        "LOG_LEVEL": "WARNING",
        # The sandbox runs without rate limits here; so do the adapters: the
        # figure is the pipeline's latency, not the exchanges' budgets.
        "EXCHANGE_RATE_LIMITS_ENABLED": "false",
    })
    return env


@bench("tick-to-trade")
def tick_to_trade(options: BenchOptions) -> list[Figure]:
    """Tick-to-trade: fresh books in Redis to both legs received by the sandbox,
    through Redis and a real worker (p50, p99, and where the time goes)."""
    iterations = max(200, options.cycles)
    with tempfile.TemporaryDirectory(prefix="arbsite-bench-") as tmp:
        database_url = settings.BENCH_DATABASE_URL or f"sqlite:///{tmp}/bench.sqlite3"
        out = Path(tmp) / "result.json"
        subprocess.run(
            [sys.executable, "-m", "arbsite.bench.tick_to_trade", "--iterations",
             str(iterations), "--out", str(out)],
            cwd=ROOT, env=bench_env(database_url=database_url), check=True, timeout=900,
        )
        result = json.loads(out.read_text())
    database = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    note = (f"{result['count']} opportunities, {database}, 1 worker (prefork 2), "
            f"{result['failed']} not traded")
    stages = result.get("stages_p50_ms", {})
    stage_note = ("p50 per stage: tick→row {detected} ms, row→claim {claimed} ms, "
                  "claim→both received {sent} ms".format(**stages)) if stages else ""
    hop = result.get("hop", {}).get("p50_ms")
    figures = [
        Figure("tick-to-trade", "p50", result["p50_ms"], "ms",
               f"{note}; {stage_note}" if stage_note else note, "≤ 15 ms"),
        Figure("tick-to-trade", "p99", result["p99_ms"], "ms", note, "≤ 50 ms"),
    ]
    for stage, value in stages.items():
        figures.append(Figure("tick-to-trade", f"stage {STAGE_NAMES.get(stage, stage)} p50",
                              value, "ms", "same run"))
    if hop:
        figures += [
            Figure("tick-to-trade", "one Celery hop (reference) p50", hop, "ms",
                   "delay() to the task running, same Redis and worker, same run"),
            Figure("tick-to-trade", "p50 in Celery hops", round(result["p50_ms"] / hop, 1),
                   "hops", "tick-to-trade p50 / one hop p50"),
        ]
    return figures


STAGE_NAMES = {"detected": "tick→row", "claimed": "row→claim", "sent": "claim→both received"}
