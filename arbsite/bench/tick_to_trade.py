"""The child process of the tick-to-trade bench: ``manage.py bench`` runs
``python -m arbsite.bench.tick_to_trade`` on a throw-away database of its
own, with its own Redis prefix and queue (``arbsite.bench.pipeline``). A
module, not a management command: it is not for operators."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbsite.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from arbsite.bench.hops import HopMeter  # noqa: E402
from arbsite.bench.registry import percentile  # noqa: E402
from arbsite.celery import app as celery_app  # noqa: E402
from exchanges import registry  # noqa: E402
from exchanges.models import Exchange  # noqa: E402
from exchanges.sandbox import SandboxServer  # noqa: E402
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file  # noqa: E402
from exchanges.types import OrderBook  # noqa: E402
from trading.models import (  # noqa: E402
    Opportunity,
    OpportunityEvent,
    Order,
    OrderEvent,
    RiskSettings,
    Trade,
)
from trading.services.balances import balances_store  # noqa: E402
from trading.services.books import books_clear, books_store  # noqa: E402
from trading.services.setup import exchanges_use_sandbox  # noqa: E402
from trading.tasks import detect_opportunities  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLOSED = ("done", "partial", "unwound", "failed", "rejected")
WALLEX_RICH_BIDS = [["10100000000", "5"], ["10000000000", "5"]]  # toman
WALLEX_ASKS = [["10200000000", "5"]]


class BenchError(Exception):
    """The bench could not measure (said on stderr; the exit code is 1)."""


def tick_to_trade_run(*, iterations: int, warmup: int) -> dict:
    """Prepare this database, start a sandbox and a worker, and measure."""
    if not settings.REDIS_KEY_PREFIX.startswith("arbsite-bench-"):
        raise BenchError("run through `manage.py bench`: it gives this run its own "
                         "database, Redis prefix and queue")
    call_command("migrate", verbosity=0)
    _forget_earlier_runs()
    call_command("setup", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    with tempfile.TemporaryDirectory() as tmp:
        creds = ensure_credentials_file(Path(tmp) / "sandbox.env")
        server = SandboxServer(port=0, scenario="static", rate_limits=False,
                               accounts=demo_accounts(creds)).start()
        worker = None
        try:
            _configure(server, creds)
            worker = _start_worker()
            hops = HopMeter()  # the reference: same Redis, same worker, between samples
            result = _measure(server, iterations, warmup, hops)
            result["hop"] = hops.summary()
            return result
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
            server.stop()


def _forget_earlier_runs() -> None:
    """Make a reused bench database (``BENCH_DATABASE_URL``) like a fresh one.

    An earlier run left its sandbox credentials, encrypted with that run's
    own FIELD_ENCRYPTION_KEY: cleared without being read (set again below).
    It also left its opportunities and orders, whose exchange order ids the
    new sandbox hands out again: deleted, with their events and fills. Only
    rows of exchanges pointed at a sandbox on this machine are touched, and
    never the reports bench's ``seed_demo`` history; a database holding
    anything else is refused.
    """
    Exchange.objects.update(api_key="", api_secret="")
    earlier = Order.objects.exclude(client_order_id__startswith="demo-")
    foreign = sorted(Exchange.objects.filter(orders__in=earlier).exclude(
        base_url__startswith="http://127.0.0.1:").values_list("name", flat=True).distinct())
    if foreign:
        raise BenchError(f"the bench database holds orders of {', '.join(foreign)} not placed "
                         "on a sandbox: it is not a bench database (set BENCH_DATABASE_URL "
                         "to one of the bench's own)")
    opportunities = Opportunity.objects.exclude(details__demo=True)
    with transaction.atomic():
        Trade.objects.filter(order__in=earlier).delete()
        OrderEvent.objects.filter(order__in=earlier).delete()
        earlier.delete()
        OpportunityEvent.objects.filter(opportunity__in=opportunities).delete()
        opportunities.delete()


def _configure(server: SandboxServer, creds: dict[str, str]) -> None:
    exchanges_use_sandbox(base_url_of=server.base_url, credentials=creds)
    risk = RiskSettings.load()
    risk.min_profit_pct = Decimal("0.01")
    risk.min_profit_irr = Decimal("1")
    risk.max_book_age_ms = 5000
    risk.save()
    registry.clear_cache()
    books_clear()
    for exchange in Exchange.objects.all():
        balances_store(exchange.name, registry.get_adapter(exchange).balances())


def _start_worker() -> subprocess.Popen:
    hostname = f"bench-{os.getpid()}@localhost"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "arbsite", "worker", "--loglevel=WARNING",
         "--concurrency=2", "-Q",
         f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_TRADING_QUEUE}", "-n", hostname,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=dict(os.environ),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if celery_app.control.ping(destination=[hostname], timeout=0.5):
            return proc
        if proc.poll() is not None:
            raise BenchError("the bench worker exited before it was ready")
    raise BenchError("the bench worker was not ready within 60 s")


def _fresh_books(server: SandboxServer) -> list[OrderBook]:
    """Reset the sandbox's books (liquidity used by the last trade comes
    back) and read them as the poller would."""
    server.set_book("wallex", "BTCTMN", asks=WALLEX_ASKS, bids=WALLEX_RICH_BIDS)
    books = []
    for name in ("nobitex", "wallex"):
        adapter = registry.adapter_for(name)
        books.append(adapter.get_order_book("BTC-IRR"))
        # As the periodic refresh would: detection works from the latest read.
        balances_store(name, adapter.balances())
    return books


def _measure(server: SandboxServer, iterations: int, warmup: int,
             hops: HopMeter | None = None) -> dict:
    samples: list[float] = []
    # Where the time goes, from the rows' own timestamps (same clock):
    # tick → opportunity row written (hop + detection), → claimed (commit,
    # enqueue, hop), → both legs received (claim, orders written, sends).
    stages: dict[str, list[float]] = {"detected": [], "claimed": [], "sent": []}
    failed = 0
    engines = server.world.engines
    for number in range(warmup + iterations):
        if hops is not None and number >= warmup:
            hops.sample()
        books = _fresh_books(server)
        last_id = Opportunity.objects.order_by("-pk").values_list("pk", flat=True).first()
        books_store(books)
        tick = time.time()
        detect_opportunities.delay()
        opportunity = _wait_closed(last_id or 0)
        if opportunity is None:
            failed += number >= warmup
            continue
        sent = []
        for order in opportunity.orders.filter(purpose="entry"):
            engine = engines[order.exchange.adapter]
            with engine.lock:
                match = [o.created_at for o in engine.orders.values()
                         if o.client_id == order.client_order_id]
            if match:
                sent.append(match[0])
        if len(sent) != 2:
            failed += number >= warmup
            continue
        if number >= warmup:
            samples.append((max(sent) - tick) * 1000)
            detected = opportunity.created_at.timestamp()
            claimed = opportunity.executed_at.timestamp()
            stages["detected"].append((detected - tick) * 1000)
            stages["claimed"].append((claimed - detected) * 1000)
            stages["sent"].append((max(sent) - claimed) * 1000)
    if not samples:
        raise BenchError("no opportunity was traded")
    return {
        "count": len(samples),
        "failed": failed,
        "p50_ms": round(percentile(samples, 0.5), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
        "stages_p50_ms": {name: round(percentile(values, 0.5), 2)
                          for name, values in stages.items()},
    }


def _wait_closed(after_id: int, timeout: float = 10.0) -> Opportunity | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        opportunity = Opportunity.objects.filter(pk__gt=after_id).order_by("pk").first()
        if opportunity is not None and opportunity.status in CLOSED:
            return opportunity
        time.sleep(0.005)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        result = tick_to_trade_run(iterations=args.iterations, warmup=args.warmup)
    except BenchError as exc:
        sys.stderr.write(f"tick-to-trade: {exc}\n")
        return 1
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
