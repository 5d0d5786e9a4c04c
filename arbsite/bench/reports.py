"""``python manage.py bench --only reports``: the report pages over a year of
1,000,000 fills on PostgreSQL, rendered through Django's test client.

The database comes from BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/arbsite_bench); it is created if missing,
migrated, and seeded once with ``seed_demo`` (reused while it holds that many
demo fills). BENCH_REPORT_TRADES changes the size. The default database of
the process is swapped for the bench database while the figures are taken.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from arbsite.bench.registry import BenchOptions, Figure, bench, percentile

logger = logging.getLogger(__name__)
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/arbsite_bench"
GOAL_MS = 500


def _ensure_database(config: dict) -> None:
    import psycopg
    from psycopg import sql

    params = {"host": config.get("HOST") or None, "port": config.get("PORT") or None,
              "user": config.get("USER") or None, "password": config.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [config["NAME"]]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


@contextmanager
def _bench_database(url: str) -> Iterator[None]:
    """The process's default database is the bench database inside the block."""
    from django.db import connections

    from arbsite.envconfig import db_config

    config = db_config(url, name="BENCH_DATABASE_URL")
    if "postgresql" not in config["ENGINE"]:
        raise ValueError("the reports bench needs PostgreSQL (BENCH_DATABASE_URL)")
    _ensure_database(config)
    original_settings = connections.settings["default"]
    original = connections["default"]
    original.close()
    connections.settings["default"] = connections.configure_settings({"default": config})[
        "default"]
    connections["default"] = connections.create_connection("default")
    try:
        yield
    finally:
        connections["default"].close()
        connections.settings["default"] = original_settings
        connections["default"] = original


def _seed(trades: int, say) -> str:
    from django.core.management import call_command
    from django.db import connection

    from trading.models import Trade
    from trading.reports.rollups import report_rollups_backfill
    from trading.services.demo import demo_seed

    call_command("migrate", verbosity=0)
    have = Trade.objects.filter(exchange_trade_id__startswith="demo-").count()
    if trades <= have <= trades + 2:
        started = time.monotonic()
        written = report_rollups_backfill()  # a database seeded before rollups existed
        if written:
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE trading_opportunity, trading_opportunityrollup, "
                               "trading_traderollup, trading_reportday")
            return (f"reused {have:,} fills, wrote {written} days' report rollups in "
                    f"{time.monotonic() - started:.0f} s")
        return f"reused {have:,} fills"
    started = time.monotonic()
    report = demo_seed(trades=trades, days=365, reset=True, separate_database=True,
                       progress=say)
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:  # fresh statistics and visibility map
        cursor.execute("VACUUM ANALYZE trading_trade, trading_opportunity, trading_order, "
                       "trading_dailyrisksnapshot, trading_opportunityrollup, "
                       "trading_traderollup, trading_reportday")
    return f"seeded {report.trades:,} fills in {seconds:.0f} s"


def _time_pages(cycles: int) -> dict[str, list[float]]:
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    user, _ = get_user_model().objects.get_or_create(
        username="bench-reports", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    pages = {"overview": "/reports/?period=year", "by day": "/reports/days/?period=year"}
    timings: dict[str, list[float]] = {}
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for name, url in pages.items():
            _get(client, url)  # warm-up
            samples = []
            for _ in range(cycles):
                started = time.perf_counter()
                _get(client, url)
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = samples
    return timings


def _get(client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")


@bench("reports")
def reports_pages(options: BenchOptions) -> list[Figure]:
    """Report pages (overview, by day) for a year of 1,000,000 fills on PostgreSQL."""
    url = settings.BENCH_DATABASE_URL or DEFAULT_URL
    trades = settings.BENCH_REPORT_TRADES

    def say(message: str) -> None:
        logger.warning("[bench reports] %s", message)

    with _bench_database(url):
        seeded = _seed(trades, say)
        say(seeded)
        timings = _time_pages(options.cycles)
    context = f"period=year, {trades:,} fills, {options.cycles} renders, {seeded}"
    figures = []
    for name, samples in timings.items():
        figures += [
            Figure("reports", f"{name} page p50", statistics.median(samples), "ms", context,
                   goal=f"≤ {GOAL_MS}"),
            Figure("reports", f"{name} page p90", percentile(samples, 0.9), "ms", context),
        ]
    return figures
