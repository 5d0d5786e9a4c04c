"""``python manage.py bench --only admin [--orders N]``: the admin's order
list and the control panel over 1,000,000 orders, through Django's test
client with a logged-in superuser, beside a trivial authenticated admin
page (the password-change form) timed in the same run.

The database is one of its own, created for the run and dropped after it
(the demo's and the reports bench's are never touched): on PostgreSQL when
the default database is PostgreSQL (``DATABASE_URL``), named after it with
``_bench_admin``; on SQLite otherwise, a file in a temporary directory. The
rows are written by the database itself in one ``INSERT … SELECT`` over a
series (no Python round trip per row): one opportunity per two orders, a
year of them, 0.1 % still live, a few unknown; then, on PostgreSQL,
``VACUUM ANALYZE`` (the statistics and visibility map autovacuum keeps).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from arbsite.bench.registry import BenchOptions, Figure, bench, percentile

logger = logging.getLogger(__name__)
GOAL_MS = 300
CLIENTS = 20  # the load: 20 logged-in clients


def _say(message: str) -> None:
    logger.warning("[bench admin] %s", message)


@contextmanager
def _own_database() -> Iterator[str]:
    """The default connection points at a fresh database inside the block."""
    from django.db import connections

    original_settings = connections.settings["default"]
    engine = original_settings["ENGINE"]
    config = dict(original_settings)
    tmp = None
    if "postgresql" in engine:
        import psycopg
        from psycopg import sql

        config["NAME"] = f"{original_settings['NAME']}_bench_admin"
        params = {"host": config.get("HOST") or None, "port": config.get("PORT") or None,
                  "user": config.get("USER") or None, "password": config.get("PASSWORD") or None}
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(config["NAME"])))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
        label = f"PostgreSQL {config['NAME']}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="arbsite-bench-admin-")
        config["NAME"] = str(Path(tmp.name) / "bench.sqlite3")
        label = "SQLite (temporary file)"
    original = connections["default"]
    original.close()
    connections.settings["default"] = connections.configure_settings({"default": config})[
        "default"]
    connections["default"] = connections.create_connection("default")
    try:
        yield label
    finally:
        connections["default"].close()
        connections.settings["default"] = original_settings
        connections["default"] = original
        if tmp is not None:
            tmp.cleanup()
        else:
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(config["NAME"])))


# One row per n of the series; n = 1 is the newest. Every value is computed
# by the database: exchanges and markets by n modulo their count, statuses
# mostly final, created_at 30 s apart (a year for 1,000,000 orders).
_OPPORTUNITIES = """
INSERT INTO trading_opportunity (market_id, buy_exchange_id, sell_exchange_id, status, reason,
    quote_asset, quantity, buy_price, sell_price, buy_vwap, sell_vwap, buy_fee_rate,
    sell_fee_rate, expected_profit, expected_profit_pct, buy_book_age_ms, sell_book_age_ms,
    details, realized_pnl, created_at, executed_at, closed_at)
SELECT {market}, {buy}, {sell}, 'done', '', 'IRR', 0.001, 100000000, 100500000, 100000000,
    100500000, 0.0025, 0.0025, 200, 0.2, 100, 120, '{{}}', 150, {at}, {at}, {at}
FROM {series}
"""
_ORDERS = """
INSERT INTO trading_order (opportunity_id, exchange_id, market_id, client_order_id,
    exchange_order_id, purpose, side, order_type, quantity, price, status, filled_quantity,
    average_price, fee, fee_asset, status_reason, is_external, not_found_since, notes, tags,
    created_at, submitted_at, last_synced_at, updated_at)
SELECT {opportunity}, {exchange}, {market}, 'BE' || n, 'X' || n, 'entry',
    CASE WHEN n % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 0.001, 100000000,
    CASE WHEN n % 1000 = 7 THEN 'open' WHEN n % 5000 = 11 THEN 'unknown'
         WHEN n % 20 = 3 THEN 'cancelled' ELSE 'filled' END,
    CASE WHEN n % 1000 = 7 OR n % 5000 = 11 OR n % 20 = 3 THEN 0 ELSE 0.001 END,
    100000000, 0, '', '', false, NULL, '', '', {at}, {at}, {at}, {at}
FROM {series}
"""


def _with_defaults(sql: str, model, connection) -> tuple[str, list]:
    """``sql`` (``INSERT INTO t (columns) SELECT … FROM …``) with every other
    column of ``model`` given its default (or NULL), so a column added later
    needs no change here."""
    sql = sql.replace("%", "%%")  # literal: parameters follow
    head, _, rest = sql.partition("(")
    columns, _, tail = rest.partition(")")
    given = {c.strip() for c in columns.split(",")}
    extra, params = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in given:
            continue
        if field.has_default():
            value = field.get_db_prep_save(field.get_default(), connection)
        elif field.null:
            value = None
        else:
            raise RuntimeError(f"bench: {model.__name__}.{field.name} has no default to write")
        extra.append(field.column)
        params.append(value)
    select, _, source = tail.rpartition("\nFROM ")
    sql = (f"{head}({columns}{''.join(', ' + c for c in extra)}){select}"
           f"{''.join(', %s' for _ in extra)}\nFROM {source}")
    return sql, params


def _fill(orders: int) -> dict[str, float]:
    from django.db import connection

    from exchanges.models import Exchange, Market
    from trading.models import Opportunity, Order, RiskSettings
    from trading.services.setup import exchanges_install

    exchanges_install(names=list(settings.ARBSITE_EXCHANGES),
                      market_codes=list(settings.ARBSITE_MARKETS))
    RiskSettings.load()
    ex = list(Exchange.objects.order_by("id").values_list("id", flat=True))
    mk = list(Market.objects.order_by("id").values_list("id", flat=True))
    pg = connection.vendor == "postgresql"

    def pick(ids: list[int], expr: str) -> str:
        cases = " ".join(f"WHEN {i} THEN {pk}" for i, pk in enumerate(ids))
        return f"CASE ({expr}) % {len(ids)} {cases} END"

    def series(count: int) -> str:
        if pg:
            return f"generate_series(1, {count}) AS n"
        return ("(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "  # noqa: S608
                f"WHERE n < {int(count)}) SELECT n FROM s)")

    def at(seconds: int) -> str:
        if pg:
            return f"now() - make_interval(secs => n * {seconds})"
        return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (n * {seconds}) || ' seconds')"

    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        started = time.monotonic()
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM trading_opportunity")
        first_opportunity = cursor.fetchone()[0] + 1
        cursor.execute(*_with_defaults(_OPPORTUNITIES.format(
            market=pick(mk, "n"), buy=pick(ex, "n"), sell=pick(ex, "n + 1"), at=at(60),
            series=series(orders // 2)), Opportunity, connection))
        # Order n belongs to opportunity (n + 1) / 2: both legs seen at once.
        cursor.execute(*_with_defaults(_ORDERS.format(
            opportunity=f"{first_opportunity - 1} + (n + 1) / 2", exchange=pick(ex, "n"),
            market=pick(mk, "(n + 1) / 2"), at=at(30), series=series(orders)), Order,
            connection))
        timings["insert"] = time.monotonic() - started
        written = Order.objects.count()
        if written != orders:
            raise RuntimeError(f"bench: {written:,} orders written, {orders:,} asked")
        started = time.monotonic()
        if pg:
            cursor.execute("VACUUM ANALYZE trading_order")
            cursor.execute("VACUUM ANALYZE trading_opportunity")
        # SQLite: no ANALYZE, as on the demo's database (Django never runs it);
        # its statistics know no skew (4 statuses: a quarter of the rows each)
        # and would have it scan every order for the few live ones.
        timings["analyze"] = time.monotonic() - started
    return timings


def _time(client, url: str, cycles: int) -> list[float]:
    _get(client, url)  # warm-up: templates, caches
    samples = []
    for _ in range(cycles):
        started = time.perf_counter()
        _get(client, url)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _get(client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")


def _time_concurrently(user, url: str, clients: int, requests: int) -> list[float]:
    """``clients`` logged-in clients at once, each its own thread and database
    connection (as ``runserver``'s threads serve them), ``requests`` each."""
    import threading

    from django.db import connections
    from django.test import Client

    samples: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def run() -> None:
        try:
            client = Client()
            client.force_login(user)
            _get(client, url)  # its session and connection, before the clock
            start.wait()
            mine = []
            for _ in range(requests):
                started = time.perf_counter()
                _get(client, url)
                mine.append((time.perf_counter() - started) * 1000)
            with lock:
                samples.extend(mine)
        except BaseException as exc:  # reported below, the run fails
            errors.append(exc)
            start.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{url} with {clients} clients: {errors[0]!r}") from errors[0]
    return samples


def _explain_problems(urls: list[str], client) -> list[str]:
    """On PostgreSQL: any query of these pages that reads a large table whole."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        return []
    problems = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            _get(client, url)
        for query in queries.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT") or "pg_class" in sql:
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            for table in ("trading_order", "trading_opportunity"):
                # A scan under a LIMIT stops early (the capped count): not whole.
                if f"Seq Scan on {table}" in plan and "Limit" not in plan:
                    problems.append(f"{url}: {sql[:120]}… reads {table} whole")
    return problems


@bench("admin")
def admin_pages(options: BenchOptions) -> list[Figure]:
    """The admin's order list and the control panel over 1,000,000 orders."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client, override_settings

    orders = options.orders
    with _own_database() as label:
        started = time.monotonic()
        call_command("migrate", verbosity=0)
        migrated = time.monotonic() - started
        timings = _fill(orders)
        _say(f"{label}: migrated in {migrated:.0f} s, {orders:,} orders written in "
             f"{timings['insert']:.0f} s, analysed in {timings['analyze']:.0f} s")
        user = get_user_model().objects.create_superuser("bench-admin", "b@example.com",
                                                         "bench-admin-pw-1")
        client = Client()
        client.force_login(user)
        deep = max(1, min(50, orders // 100))  # a page well into the list
        pages = {
            "reference: password form": "/admin/password_change/",
            "order list": "/admin/trading/order/",
            "order list, filled": "/admin/trading/order/?status__exact=filled",
            f"order list, page {deep}": f"/admin/trading/order/?p={deep}",
            "control panel": "/admin/control/",
        }
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            samples = {name: _time(client, url, options.cycles) for name, url in pages.items()}
            for name in ("reference: password form", "order list", "control panel"):
                samples[f"{name}, {CLIENTS} clients at once"] = _time_concurrently(
                    user, pages[name], CLIENTS, max(1, options.cycles // 4))
            problems = _explain_problems([pages["order list"], pages["order list, filled"],
                                          pages["control panel"]], client)
    for problem in problems:
        _say(f"EXPLAIN: {problem}")
    context = (f"{label}, {orders:,} orders, logged in (Django test client, in process)"
               + (f"; {len(problems)} full scans, see the log" if problems else
                  ("; EXPLAIN: no full scan of orders or opportunities"
                   if "PostgreSQL" in label else "")))
    figures = []
    for name, values in samples.items():
        goal = "" if name.startswith("reference") else f"≤ {GOAL_MS}"
        # One process serves the 20 at once (runserver's threads, one GIL):
        # their figure is the single-client figure times the queue's length.
        how = (f"{CLIENTS} threads at once as runserver's, {len(values)} requests"
               if "at once" in name else f"one client, {len(values)} requests")
        note = f"{how}; {context}"
        figures += [Figure("admin", f"{name} p50", statistics.median(values), "ms", note,
                           goal=goal),
                    Figure("admin", f"{name} p99", percentile(values, 0.99), "ms", note)]
    return figures
