"""Bench figure: how long a leg stays naked when one leg's place answer is
lost and it rests on the book while the other fills (issue 10 item 2).

The scenario of the issue, against the sandbox with the production
timeouts: the Wallex sell's answer is lost (sandbox fault ``lost_answer``)
and it rests below Wallex's bids; the Nobitex buy fills. Sync runs at the
schedule's period, adopts the resting sell, cancels it once its execution
window (the place timeout) is over, and the bounded unwind sells the buy
back. The figure is the time the opportunity's net position was not zero,
from its recorded fills (``trading.services.legs.naked_seconds``), beside
the execution window, the sync period and one sandbox request measured in
the same run. Before the fix the leg was never cancelled: the probe saw it
naked for 50 minutes, until it stopped.

Like tick-to-trade, the run happens in a child process (``python -m
arbsite.bench.naked_leg``) on its own database and Redis prefix
(``arbsite.bench.pipeline.bench_env``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from arbsite.bench.registry import BenchOptions, Figure, bench

ROOT = Path(__file__).resolve().parents[2]
QTY = "0.01"
BUY_PRICE = "100040000000"  # rial: Nobitex's static best ask, fills at once
SELL_PRICE = "101000000000"  # rial: above Wallex's bids below, rests
WALLEX_LOW_BIDS = [["9000000000", "5"]]  # toman
WALLEX_ASKS = [["10200000000", "5"]]


@bench("naked-leg")
def naked_leg(options: BenchOptions) -> list[Figure]:
    """A leg's answer lost, the leg resting, the other filled: how long the
    position stays one-sided (sync cancels after the window, then unwinds)."""
    from django.conf import settings

    from arbsite.bench.pipeline import bench_env

    with tempfile.TemporaryDirectory(prefix="arbsite-bench-") as tmp:
        database_url = settings.BENCH_DATABASE_URL or f"sqlite:///{tmp}/bench.sqlite3"
        out = Path(tmp) / "result.json"
        env = bench_env(database_url=database_url)
        # Production's timeouts (the execution window), whatever this shell sets.
        for name in ("EXCHANGE_CONNECT_TIMEOUT", "EXCHANGE_READ_TIMEOUT",
                     "EXCHANGE_RATE_LIMIT_MAX_WAIT", "ORDER_NOT_FOUND_GRACE_SECONDS"):
            env.pop(name, None)
        subprocess.run([sys.executable, "-m", "arbsite.bench.naked_leg", "--out", str(out)],
                       cwd=ROOT, env=env, check=True, timeout=600)
        result = json.loads(out.read_text())
    note = (f"execution window {result['window_s']:.2f} s + sync every "
            f"{result['sync_every_s']:g} s; ended {result['status']}; before the fix: never "
            "cancelled (50 min in the probe, until it stopped)")
    return [
        Figure("naked-leg", "time naked", result["naked_s"], "s", note,
               goal=f"≈ {result['window_s'] + result['sync_every_s']:.0f}"),
        Figure("naked-leg", "leg cancelled after writing", result["cancel_after_s"], "s",
               "from the leg's writing to the cancel sync sent"),
        Figure("naked-leg", "reference: one sandbox request", result["request_ms"], "ms",
               "p50 of 20 book reads, same sandbox"),
    ]


def _run() -> dict:
    import os
    import time
    from decimal import Decimal

    from django.conf import settings
    from django.core.management import call_command

    from arbsite.bench.registry import percentile
    from arbsite.bench.tick_to_trade import BenchError, _configure, _forget_earlier_runs
    from exchanges import registry
    from exchanges.models import Exchange, Market
    from exchanges.sandbox import SandboxServer
    from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file
    from trading.models import Opportunity, OrderEventKind
    from trading.schedule import PERIODIC_TASKS
    from trading.services.execution import opportunity_execute
    from trading.services.legs import execution_window, naked_seconds
    from trading.services.sync import orders_sync

    if not settings.REDIS_KEY_PREFIX.startswith("arbsite-bench-"):
        raise BenchError("run through `manage.py bench`: it gives this run its own "
                         "database and Redis prefix")
    call_command("migrate", verbosity=0)
    _forget_earlier_runs()
    call_command("setup", "--skip-exchange-rules", verbosity=0,
                 stdout=open(os.devnull, "w"))  # noqa: SIM115
    sync_every = next(t.every_seconds for t in PERIODIC_TASKS if t.task == "trading.sync_orders")
    with tempfile.TemporaryDirectory() as tmp:
        creds = ensure_credentials_file(Path(tmp) / "sandbox.env")
        server = SandboxServer(port=0, scenario="static", rate_limits=False,
                               accounts=demo_accounts(creds)).start()
        try:
            _configure(server, creds)
            server.set_book("wallex", "BTCTMN", asks=WALLEX_ASKS, bids=WALLEX_LOW_BIDS)
            nobitex, wallex = Exchange.objects.get(name="nobitex"), Exchange.objects.get(
                name="wallex")
            adapter = registry.get_adapter(nobitex)
            reads = []
            for _ in range(20):
                started = time.perf_counter()
                adapter.get_order_book("BTC-IRR")
                reads.append((time.perf_counter() - started) * 1000)
            market = Market.objects.get(base="BTC", quote="IRR")
            quantity, buy, sell = Decimal(QTY), Decimal(BUY_PRICE), Decimal(SELL_PRICE)
            opportunity = Opportunity.objects.create(
                market=market, buy_exchange=nobitex, sell_exchange=wallex, quantity=quantity,
                buy_price=buy, sell_price=sell, buy_vwap=buy, sell_vwap=sell,
                buy_fee_rate=nobitex.taker_fee, sell_fee_rate=wallex.taker_fee,
                quote_asset=market.quote, expected_profit=(sell - buy) * quantity,
                expected_profit_pct=Decimal("0"))
            server.set_faults("wallex:lost_answer=1", replace=True)
            opportunity_execute(opportunity_id=opportunity.pk)
            server.clear_faults()
            deadline = time.monotonic() + execution_window().total_seconds() + 120
            while time.monotonic() < deadline:
                orders_sync()
                opportunity.refresh_from_db()
                if opportunity.status != Opportunity.Status.EXECUTING:
                    break
                time.sleep(sync_every)
            leg = opportunity.orders.get(purpose="entry", side="sell")
            cancel = leg.events.filter(kind=OrderEventKind.LEG_CANCEL).first()
            return {
                "naked_s": naked_seconds(opportunity_id=opportunity.pk),
                "window_s": execution_window().total_seconds(),
                "sync_every_s": sync_every,
                "status": opportunity.status,
                "cancel_after_s": ((cancel.created_at - leg.created_at).total_seconds()
                                   if cancel else -1),
                "request_ms": percentile(reads, 0.5),
            }
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="the naked-leg bench's child process")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from arbsite.bench.tick_to_trade import BenchError

    try:
        result = _run()
    except BenchError as exc:
        sys.stderr.write(f"naked-leg: {exc}\n")
        return 1
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbsite.settings")
    django.setup()
    sys.exit(main())
