"""The child process of the tick-to-trade bench (``manage.py bench`` runs it
on a throw-away database). Not for operators."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from arbsite.celery import app as celery_app
from exchanges import registry
from exchanges.bench import percentile
from exchanges.models import Exchange
from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file
from exchanges.types import OrderBook
from trading.models import Opportunity, RiskSettings
from trading.services.balances import balances_store
from trading.services.books import books_clear, books_store
from trading.services.setup import exchanges_use_sandbox
from trading.tasks import detect_opportunities

ROOT = Path(__file__).resolve().parents[3]
CLOSED = ("done", "partial", "unwound", "failed", "rejected")
WALLEX_RICH_BIDS = [["10100000000", "5"], ["10000000000", "5"]]  # toman
WALLEX_ASKS = [["10200000000", "5"]]


class Command(BaseCommand):
    help = "Internal: measure tick-to-trade on this (throw-away) database."

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=200)
        parser.add_argument("--warmup", type=int, default=10)
        parser.add_argument("--out", required=True)

    def handle(self, *args, **options):
        if not settings.REDIS_KEY_PREFIX.startswith("arbsite-bench-"):
            raise CommandError("run through `manage.py bench`: it gives this run its own "
                               "database, Redis prefix and queue")
        call_command("migrate", verbosity=0)
        call_command("setup", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
        with tempfile.TemporaryDirectory() as tmp:
            creds = ensure_credentials_file(Path(tmp) / "sandbox.env")
            server = SandboxServer(port=0, scenario="static", rate_limits=False,
                                   accounts=demo_accounts(creds)).start()
            worker = None
            try:
                self._configure(server, creds)
                worker = self._start_worker()
                result = self._measure(server, options["iterations"], options["warmup"])
            finally:
                if worker is not None:
                    worker.send_signal(signal.SIGTERM)
                    try:
                        worker.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                server.stop()
        Path(options["out"]).write_text(json.dumps(result))

    def _configure(self, server: SandboxServer, creds: dict[str, str]) -> None:
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

    def _start_worker(self) -> subprocess.Popen:
        hostname = f"bench-{os.getpid()}@localhost"
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "arbsite", "worker", "--loglevel=WARNING",
             "--concurrency=2", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "-n", hostname,
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=dict(os.environ),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if celery_app.control.ping(destination=[hostname], timeout=0.5):
                return proc
            if proc.poll() is not None:
                raise CommandError("the bench worker exited before it was ready")
        raise CommandError("the bench worker was not ready within 60 s")

    def _fresh_books(self, server: SandboxServer) -> list[OrderBook]:
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

    def _measure(self, server: SandboxServer, iterations: int, warmup: int) -> dict:
        samples: list[float] = []
        # Where the time goes, from the rows' own timestamps (same clock):
        # tick → opportunity row written (hop + detection), → claimed (commit,
        # enqueue, hop), → both legs received (claim, orders written, sends).
        stages: dict[str, list[float]] = {"detected": [], "claimed": [], "sent": []}
        failed = 0
        engines = server.world.engines
        for number in range(warmup + iterations):
            books = self._fresh_books(server)
            last_id = Opportunity.objects.order_by("-pk").values_list("pk", flat=True).first()
            books_store(books)
            tick = time.time()
            detect_opportunities.delay()
            opportunity = self._wait_closed(last_id or 0)
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
            raise CommandError("no opportunity was traded")
        return {
            "count": len(samples),
            "failed": failed,
            "p50_ms": round(percentile(samples, 0.5), 2),
            "p99_ms": round(percentile(samples, 0.99), 2),
            "stages_p50_ms": {name: round(percentile(values, 0.5), 2)
                              for name, values in stages.items()},
        }

    def _wait_closed(self, after_id: int, timeout: float = 10.0) -> Opportunity | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            opportunity = Opportunity.objects.filter(pk__gt=after_id).order_by("pk").first()
            if opportunity is not None and opportunity.status in CLOSED:
                return opportunity
            time.sleep(0.005)
        return None
