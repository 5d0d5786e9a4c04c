"""The child process of the legs bench (``arbsite.bench.legs``): the whole
trading system, as ``./run.sh`` runs it, against the sandbox's default
scenario for a number of minutes, then the share of round trips that ended
one-legged. ``manage.py bench`` runs ``python -m arbsite.bench.legs_run`` on
a throw-away database of its own, with its own Redis prefix and queues.

What runs: the sandbox (default scenario, rate limits on as in the demo,
websockets when streamed), a Celery worker (as the tick-to-trade bench
starts it), beat (polling every second, sync every 3 s, balances, …) and,
when streamed, ``manage.py stream_books``. The risk settings are the
defaults ``setup`` writes, with the slippage buffer under test. After the
window, markets are disabled (no new opportunity; the detected ones are
refused) and the executing ones are left to settle.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbsite.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.models import Sum  # noqa: E402

from arbsite.bench.registry import percentile  # noqa: E402
from arbsite.bench.tick_to_trade import (  # noqa: E402
    BenchError,
    _forget_earlier_runs,
    _start_worker,
)
from exchanges import registry  # noqa: E402
from exchanges.models import Exchange, Market  # noqa: E402
from exchanges.sandbox import SandboxServer  # noqa: E402
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file  # noqa: E402
from trading.models import Opportunity, RiskSettings  # noqa: E402
from trading.services.balances import balances_store  # noqa: E402
from trading.services.books import books_clear  # noqa: E402
from trading.services.setup import (  # noqa: E402
    SetupReport,
    exchange_rules_read,
    exchanges_use_sandbox,
)

ROOT = Path(__file__).resolve().parents[2]
ONE_LEGGED = ("partial", "unwound", "failed")
ROUND_TRIPS = ("done", *ONE_LEGGED)
IN_FLIGHT = ("detected", "executing")


def legs_run(*, mode: str, minutes: float, slippage_bps: Decimal | None, seed: int,
             warmup: float, settle: float) -> dict:
    if not settings.REDIS_KEY_PREFIX.startswith("arbsite-bench-"):
        raise BenchError("run through `manage.py bench`: it gives this run its own "
                         "database, Redis prefix and queue")
    call_command("migrate", verbosity=0)
    _forget_earlier_runs()
    call_command("setup", "--skip-exchange-rules", verbosity=0,
                 stdout=open(os.devnull, "w"))  # noqa: SIM115
    # A reused bench database: the last run ended with its markets disabled.
    Market.objects.update(enabled=True)
    streamed = mode == "streamed"
    with tempfile.TemporaryDirectory(prefix="arbsite-legs-") as tmp:
        creds = ensure_credentials_file(Path(tmp) / "sandbox.env")
        server = SandboxServer(port=0, scenario="default", seed=seed, rate_limits=True,
                               accounts=demo_accounts(creds),
                               stream_port=0 if streamed else None).start()
        processes: list[subprocess.Popen] = []
        try:
            risk = _configure(server, creds, slippage_bps)
            processes.append(_start_worker())
            processes.append(_start_beat(Path(tmp)))
            if streamed:
                processes.append(_start_streamer(server, Path(tmp)))
            return _measure(server, risk, minutes=minutes, warmup=warmup, settle=settle,
                            mode=mode, seed=seed)
        finally:
            for proc in reversed(processes):
                _stop(proc)
            server.stop()


def _configure(server: SandboxServer, creds: dict[str, str],
               slippage_bps: Decimal | None) -> RiskSettings:
    exchanges_use_sandbox(base_url_of=server.base_url, credentials=creds)
    registry.clear_cache()
    report = exchange_rules_read(report=SetupReport())  # ticks, steps, fees: the sandbox's
    if report.problems:
        raise BenchError(f"the sandbox's rules could not be read: {report.problems}")
    risk = RiskSettings.load()  # the defaults setup writes, as in the demo
    if slippage_bps is not None:
        risk.slippage_bps = slippage_bps
    risk.slippage_bps_by_market = {}
    risk.kill_switch = False  # a reused bench database: an earlier run's loss may have tripped it
    risk.save()
    registry.clear_cache()
    books_clear()
    for exchange in Exchange.objects.all():
        balances_store(exchange.name, registry.get_adapter(exchange).balances())
    return risk


def _start_beat(tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "arbsite", "beat", "--loglevel=WARNING",
         f"--pidfile={tmp / 'beat.pid'}", f"--schedule={tmp / 'beat-schedule'}"],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _start_streamer(server: SandboxServer, tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, NOBITEX_WS_URL=server.stream_url("nobitex"),
               WALLEX_WS_URL=server.stream_url("wallex"))
    log = open(tmp / "stream.log", "w")  # noqa: SIM115 - the child holds it
    return subprocess.Popen([sys.executable, "manage.py", "stream_books"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _measure(server: SandboxServer, risk: RiskSettings, *, minutes: float, warmup: float,
             settle: float, mode: str, seed: int) -> dict:
    time.sleep(warmup)  # books polled or streamed in, the first cycles run
    first = (Opportunity.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)
    ends = time.monotonic() + minutes * 60
    while (left := ends - time.monotonic()) > 0:
        time.sleep(min(left, 30))
        sys.stderr.write(f"legs {mode}: {Opportunity.objects.filter(pk__gt=first).count()} "
                         f"opportunities, {max(0, round(ends - time.monotonic()))} s left\n")
    last = (Opportunity.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)
    # No new opportunity from here; the detected ones are refused at execution.
    Market.objects.update(enabled=False)
    deadline = time.monotonic() + settle
    window = Opportunity.objects.filter(pk__gt=first, pk__lte=last)
    while window.filter(status__in=IN_FLIGHT).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    statuses = Counter(window.values_list("status", flat=True))
    trips = sum(statuses[s] for s in ROUND_TRIPS)
    one_legged = sum(statuses[s] for s in ONE_LEGGED)

    def pnl(status_in) -> str:
        total = window.filter(status__in=status_in).aggregate(total=Sum("realized_pnl"))["total"]
        return str((total or Decimal(0)).quantize(Decimal(1)))

    ages = [max(a, b) for a, b in window.filter(status__in=ROUND_TRIPS)
            .values_list("buy_book_age_ms", "sell_book_age_ms")]
    return {
        "mode": mode, "minutes": minutes, "seed": seed,
        "slippage_bps": str(risk.slippage_bps),
        "statuses": dict(statuses),
        "round_trips": trips,
        "one_legged": one_legged,
        "share_pct": round(100 * one_legged / trips, 2) if trips else None,
        "pnl_one_legged": pnl(ONE_LEGGED),
        "pnl_all": pnl(ROUND_TRIPS),
        "book_age_p50_ms": percentile(ages, 0.5) if ages else None,
        "still_in_flight": window.filter(status__in=IN_FLIGHT).count(),
        # What became of each one-legged round trip: where, how old its books, why.
        "one_legged_reasons": [
            f"#{o.pk} {o.status} {o.market.code} {o.buy_exchange.name}->{o.sell_exchange.name} "
            f"ages {o.buy_book_age_ms}/{o.sell_book_age_ms} ms: {o.reason}"
            for o in window.filter(status__in=ONE_LEGGED)
            .select_related("market", "buy_exchange", "sell_exchange").order_by("pk")],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("streamed", "polled"), required=True)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--slippage-bps", type=Decimal, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=60.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        result = legs_run(mode=args.mode, minutes=args.minutes, slippage_bps=args.slippage_bps,
                          seed=args.seed, warmup=args.warmup, settle=args.settle)
    except BenchError as exc:
        sys.stderr.write(f"legs: {exc}\n")
        return 1
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
