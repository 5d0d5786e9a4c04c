"""The child process of the streamed benches (``arbsite.bench.streamed``): run by
``manage.py bench`` as ``python -m arbsite.bench.streamed_run`` on a throw-away
database, Redis prefix and queue of its own, against a sandbox that streams.

``--mode trade``: (a) message-to-orders through a real ``stream_books`` process
and a real worker, with its stages; (b) the book age at decision, streamed then
polled (beat's one-second poll, emulated here), on the same scenario and changes.
``--mode cost``: (c) the streamer's CPU and memory while 3 exchanges × N markets
each change M times a second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbsite.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from arbsite.bench.hops import HopMeter  # noqa: E402
from arbsite.bench.registry import percentile  # noqa: E402
from arbsite.bench.tick_to_trade import (  # noqa: E402
    CLOSED,
    WALLEX_ASKS,
    BenchError,
    _configure,
    _forget_earlier_runs,
    _start_worker,
)
from exchanges import registry  # noqa: E402
from exchanges.models import Exchange, ExchangeMarket, Market  # noqa: E402
from exchanges.sandbox import SandboxServer  # noqa: E402
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file  # noqa: E402
from exchanges.sandbox.markets import Market as SandboxMarket  # noqa: E402
from trading.models import Opportunity  # noqa: E402
from trading.services.balances import balances_store  # noqa: E402
from trading.services.books import STREAM, books_latest  # noqa: E402
from trading.services.sync import orders_sync  # noqa: E402
from trading.tasks import poll_orderbooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WALLEX_RICH_BIDS = [["10100000000", "5"], ["10000000000", "5"]]  # toman: a spread
WALLEX_POOR_BIDS = [["9990000000", "5"]]  # toman: below Nobitex's ask, no spread
NOBITEX_ASKS = [["100040000000", "5"]]  # rial
NOBITEX_BIDS = [["99960000000", "5"]]
TICK = os.sysconf("SC_CLK_TCK")


def _prepare() -> None:
    if not settings.REDIS_KEY_PREFIX.startswith("arbsite-bench-"):
        raise BenchError("run through `manage.py bench`: it gives this run its own "
                         "database, Redis prefix and queue")
    call_command("migrate", verbosity=0)
    _forget_earlier_runs()
    call_command("setup", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115


def _sandbox(tmp: str) -> SandboxServer:
    creds = ensure_credentials_file(Path(tmp) / "sandbox.env")
    server = SandboxServer(port=0, scenario="static", rate_limits=False,
                           accounts=demo_accounts(creds), stream_port=0).start()
    _configure(server, creds)
    return server


def _streamer(server: SandboxServer, log: Path) -> subprocess.Popen:
    env = dict(os.environ, NOBITEX_WS_URL=server.stream_url("nobitex"),
               WALLEX_WS_URL=server.stream_url("wallex"))
    return subprocess.Popen([sys.executable, "manage.py", "stream_books"], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise BenchError(f"{what} within {timeout:g} s")


def _streamed_books() -> set[tuple[str, str]]:
    return {k for k, cached in books_latest().items() if cached.source == STREAM}


# -- (a) and (b) ----------------------------------------------------------------------------


def trade_run(*, iterations: int, warmup: int, polled: int) -> dict:
    _prepare()
    with tempfile.TemporaryDirectory() as tmp:
        server = _sandbox(tmp)
        worker = streamer = None
        try:
            worker = _start_worker()
            hops = HopMeter()  # the reference, sampled between the trades
            streamer = _streamer(server, Path(tmp) / "streamer.log")
            try:
                _wait(lambda: {("nobitex", "BTC-IRR"), ("wallex", "BTC-IRR")} <= _streamed_books(),
                      30, "the streamer stored no streamed book")
            except BenchError:
                raise BenchError("the streamer stored no book: "
                                 + (Path(tmp) / "streamer.log").read_text()[-2000:]) from None
            streamed = _trades(server, iterations + warmup, settle=0.05, hops=hops)
            streamed = [s for s in streamed if s.get("failed")] + [
                s for s in streamed if not s.get("failed")][warmup:]
            _stop(streamer)
            streamer = None
            time.sleep(3.5)  # its status goes stale: the poller fetches every book again
            beat = _Beat()
            beat.start()
            try:
                polled_samples = _trades(server, polled, settle=1.2, random_phase=1.0,
                                         hops=hops)
            finally:
                beat.stop()
        finally:
            _stop(streamer)
            if worker is not None:
                _stop(worker)
            server.stop()
    return {"hop": hops.summary(), "streamed": _summary(streamed),
            "polled": _summary(polled_samples)}


class _Beat(threading.Thread):
    """Beat's ``trading.poll_orderbooks`` every second (trading/schedule.py)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            poll_orderbooks.delay()

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def _trades(server: SandboxServer, count: int, *, settle: float,
            random_phase: float = 0.0, hops: HopMeter | None = None) -> list[dict]:
    """``count`` times: no spread, then a spread appears on Wallex at a known
    moment; what became of it, timed from the sandbox's and our records."""
    engines = server.world.engines
    samples: list[dict] = []
    nudge = 0
    # ``count`` timed samples, at most twice as many tries (some are not timed:
    # a leg rested and sync settled it, or an unwind held the pair in flight).
    while sum(not s.get("failed") for s in samples) < count and len(samples) < 2 * count:
        nudge += 1  # Nobitex's book changes too, so that its push keeps it fresh
        server.set_book("nobitex", "BTCIRT", asks=[[NOBITEX_ASKS[0][0], f"{5 + nudge % 2}"]],
                        bids=NOBITEX_BIDS)
        # Both sides of Wallex change each time: a Wallex book is as old as its
        # older side (each message carries one), so the push renews both.
        server.set_book("wallex", "BTCTMN", asks=_asks(2 * nudge), bids=WALLEX_POOR_BIDS)
        for name in ("nobitex", "wallex"):
            balances_store(name, registry.adapter_for(name).balances())
        if hops is not None:
            hops.sample()
        time.sleep(settle + random.uniform(0, random_phase))  # noqa: S311 - a phase
        last_id = Opportunity.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        changed = time.time()
        server.set_book("wallex", "BTCTMN", asks=_asks(2 * nudge + 1), bids=WALLEX_RICH_BIDS)
        opportunity, why = _closed_after(last_id)
        if opportunity is None:
            samples.append({"failed": True, "why": why})
            continue
        sent = []
        for order in opportunity.orders.filter(purpose="entry"):
            engine = engines[order.exchange.adapter]
            with engine.lock:
                sent += [o.created_at for o in engine.orders.values()
                         if o.client_id == order.client_order_id]
        if len(sent) != 2:
            samples.append({"failed": True, "why": "not both legs placed"})
            continue
        received = datetime.fromisoformat(
            opportunity.details["books_fetched_at"]["sell"]).timestamp()
        row, claim = opportunity.created_at.timestamp(), opportunity.executed_at.timestamp()
        samples.append({
            "source": opportunity.sell_book_source,
            "message_to_orders": (max(sent) - received) * 1000,
            "change_to_received": (received - changed) * 1000,
            "received_to_row": (row - received) * 1000,
            "row_to_claim": (claim - row) * 1000,
            "claim_to_sent": (max(sent) - claim) * 1000,
            "age_since_change": (row - changed) * 1000,
            "age_recorded": opportunity.sell_book_age_ms,
        })
    return samples


def _asks(n: int) -> list[list[str]]:
    price, amount = WALLEX_ASKS[0]
    return [[price, str(Decimal(amount) + Decimal(n % 3) / 10)]]


def _closed_after(after_id: int, timeout: float = 10.0) -> tuple[Opportunity | None, str]:
    """The first opportunity after ``after_id`` once closed. One still open
    after 2 s (a leg left resting whose cancel did not answer) is what sync
    settles every 3 s in a deployment: sync runs here too every 2 s of a wait,
    so that none holds its pair in flight for the rest of the run (such a one
    is not a sample)."""
    started = time.monotonic()
    synced = started
    while time.monotonic() < started + timeout:
        opportunity = Opportunity.objects.filter(pk__gt=after_id).order_by("pk").first()
        if opportunity is not None and opportunity.status in CLOSED:
            return opportunity, ""
        if time.monotonic() - synced > 2.0:
            # whichever is open: the one after ``after_id``, or an earlier one
            # that still holds the pair in flight
            synced = time.monotonic()
            orders_sync()
            if opportunity is not None and (
                    Opportunity.objects.get(pk=opportunity.pk).status in CLOSED):
                return None, "settled by sync"  # not timed
        time.sleep(0.005)
    return None, "no opportunity" if opportunity is None else f"left {opportunity.status}"


def _summary(samples: list[dict]) -> dict:
    good = [s for s in samples if not s.get("failed")]
    whys: dict[str, int] = {}
    for s in samples:
        if s.get("failed"):
            whys[s["why"]] = whys.get(s["why"], 0) + 1
    out: dict = {"count": len(good), "failed": len(samples) - len(good), "why": whys,
                 "sources": sorted({s["source"] for s in good})}
    for name in ("message_to_orders", "change_to_received", "received_to_row", "row_to_claim",
                 "claim_to_sent", "age_since_change", "age_recorded"):
        values = [s[name] for s in good]
        if values:
            out[name] = {"p50": round(percentile(values, 0.5), 2),
                         "p99": round(percentile(values, 0.99), 2)}
    return out


# -- (c) ------------------------------------------------------------------------------------


def cost_run(*, seconds: float, markets: int, rate: float) -> dict:
    """3 exchanges (Nobitex, Wallex, and a second Nobitex-protocol exchange on the
    same sandbox feed) × ``markets`` synthetic markets, each book changed ``rate``
    times a second, for ``seconds``; the streamer's CPU and memory (from /proc)."""
    _prepare()
    with tempfile.TemporaryDirectory() as tmp:
        server = _sandbox(tmp)
        symbols = _synthetic_markets(server, markets)
        streamer = None
        driver = _Driver(server, symbols, rate)
        try:
            streamer = _streamer(server, Path(tmp) / "streamer.log")
            expected = 3 * markets
            try:
                _wait(lambda: len(_streamed_books()) >= expected, 60,
                      f"the streamer did not store {expected} books")
            except BenchError:
                raise BenchError(f"{len(_streamed_books())} of {expected} books streamed: "
                                 + (Path(tmp) / "streamer.log").read_text()[-2000:]) from None
            driver.start()
            time.sleep(min(10.0, seconds / 5))  # warm: connections, caches, first GCs
            start_cpu, start_rss, started = _cpu(streamer.pid), _rss(streamer.pid), time.time()
            rss = [start_rss]
            while time.time() - started < seconds:
                time.sleep(min(5.0, seconds / 10))
                rss.append(_rss(streamer.pid))
            end_cpu, end_rss, ended = _cpu(streamer.pid), _rss(streamer.pid), time.time()
            messages = _stream_messages()
        finally:
            driver.stop()
            _stop(streamer)
            server.stop()
    wall = ended - started
    return {"seconds": round(wall, 1), "exchanges": 3, "markets": markets, "rate": rate,
            "changes_per_second": round(driver.changes / max(driver.elapsed, 1e-9), 1),
            "cpu_pct": round((end_cpu - start_cpu) / wall * 100, 1),
            "rss_start_mb": round(start_rss / 2**20, 1), "rss_end_mb": round(end_rss / 2**20, 1),
            "rss_max_mb": round(max(rss) / 2**20, 1), "messages": messages}


def _synthetic_markets(server: SandboxServer, count: int) -> dict[str, list[str]]:
    """``count`` markets C01-IRR … listed on Nobitex and Wallex in the sandbox (its
    engines are this process's), and on the three exchange rows here; every other
    listing off, so that only they are streamed."""
    ExchangeMarket.objects.update(enabled=False)
    nobitex = Exchange.objects.get(name="nobitex")
    twin, _ = Exchange.objects.update_or_create(
        name="nobitex-twin", defaults={"adapter": nobitex.adapter, "base_url": nobitex.base_url,
                                       "enabled": True, "trading_enabled": False})
    symbols: dict[str, list[str]] = {"nobitex": [], "wallex": []}
    for i in range(1, count + 1):
        base = f"C{i:02d}"
        market, _ = Market.objects.get_or_create(base=base, quote="IRR")
        for exchange, symbol, scale, factor in (("nobitex", f"{base}IRT", 1, 1),
                                                ("wallex", f"{base}TMN", 10, Decimal("0.1"))):
            engine = server.world.engines[exchange]
            engine.markets = dict(engine.markets)  # this process's copy of the catalogue
            engine.markets[symbol] = SandboxMarket(
                exchange=exchange, symbol=symbol, base=base, quote="IRR",
                base_currency=base.lower() if exchange == "nobitex" else base,
                quote_currency="rls" if exchange == "nobitex" else "TMN", price_factor=factor,
                tick=Decimal(1), step=Decimal("0.01"), min_notional=Decimal(0),
                max_notional=None)
            symbols[exchange].append(symbol)
            rows = [Exchange.objects.get(name=exchange)] + ([twin] if exchange == "nobitex"
                                                            else [])
            for row in rows:
                ExchangeMarket.objects.update_or_create(
                    exchange=row, market=market,
                    defaults={"symbol": symbol, "price_scale": scale, "enabled": True,
                              "amount_step": Decimal("0.01"), "price_tick": Decimal(1),
                              "min_order_value": Decimal(0)})
    for exchange, names in symbols.items():
        for symbol in names:
            _change(server, exchange, symbol, 0)
    return symbols


def _change(server: SandboxServer, exchange: str, symbol: str, n: int) -> None:
    price = 1_000_000 + (n % 50) * 10
    server.set_book(exchange, symbol, asks=[[str(price + 100 + i * 10), "1"] for i in range(10)],
                    bids=[[str(price - i * 10), "1"] for i in range(10)])


class _Driver(threading.Thread):
    """Changes every book ``rate`` times a second (the sandbox pushes each change)."""

    def __init__(self, server: SandboxServer, symbols: dict[str, list[str]], rate: float) -> None:
        super().__init__(daemon=True)
        self.server, self.symbols, self.period = server, symbols, 1.0 / rate
        self.stopping = threading.Event()
        self.changes = 0
        self.elapsed = 0.0

    def run(self) -> None:
        started = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            n += 1
            for exchange, names in self.symbols.items():
                for symbol in names:
                    _change(self.server, exchange, symbol, n)
                    self.changes += 1
            self.elapsed = time.monotonic() - started
            self.stopping.wait(max(0.0, started + n * self.period - time.monotonic()))

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def _cpu(pid: int) -> float:
    """User + system CPU seconds of the process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def _stream_messages() -> dict[str, int]:
    from arbsite.redis import redis_client
    from trading.services.streaming import status_key

    client = redis_client()
    return {name: int(client.hget(status_key(name), "messages") or 0)
            for name in ("nobitex", "nobitex-twin", "wallex")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("trade", "cost"), required=True)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--polled", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.mode == "trade":
            result = trade_run(iterations=args.iterations, warmup=args.warmup,
                               polled=args.polled)
        else:
            result = cost_run(seconds=args.seconds, markets=args.markets, rate=args.rate)
    except BenchError as exc:
        sys.stderr.write(f"streamed bench: {exc}\n")
        return 1
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
