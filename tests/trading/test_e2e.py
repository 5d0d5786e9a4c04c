"""End to end: a real worker and beat run the pipeline against the sandbox
for some seconds — polling, detection, execution, sync — and the sandbox's
balances move exactly as the Trades recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from decimal import Decimal

import pytest

from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts
from exchanges.states import LIVE_STATES
from tests.processes import ROOT, celery_worker, process_env
from tests.trading.sandbox_checks import check_sandbox_agrees, sandbox_balances
from trading.models import Opportunity, Order, RiskSettings
from trading.services.setup import schedule_install
from trading.services.sync import orders_sync

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXECUTED = (Opportunity.Status.DONE, Opportunity.Status.PARTIAL, Opportunity.Status.UNWOUND)
# The sandbox publishes its limits (WIRE.md); the demo and this test use them.
LIMITS = '{"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}'


@pytest.fixture
def spready_sandbox(sandbox_credentials):
    server = SandboxServer(port=0, scenario="spready", seed=7,
                           accounts=demo_accounts(sandbox_credentials)).start()
    yield server
    server.stop()


@contextmanager
def celery_beat(queue: str, log_path):
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "arbsite", "beat", "--loglevel=INFO",
         "--pidfile=", "--max-interval=1"],
        cwd=ROOT, env=process_env(CELERY_QUEUE=queue, EXCHANGE_RATE_LIMITS=LIMITS),
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_worker_and_beat_trade_against_the_sandbox(trading_setup, spready_sandbox, tmp_path,
                                                   settings, monkeypatch):
    # Given the exchanges pointed at a sandbox whose spreads open often
    from exchanges import registry
    from exchanges.models import Exchange

    for exchange in Exchange.objects.all():
        exchange.base_url = spready_sandbox.base_url(exchange.name)
        exchange.save()
    registry.clear_cache()
    risk = RiskSettings.load()
    risk.max_book_age_ms = 3000
    risk.save()
    schedule_install()
    before = sandbox_balances(spready_sandbox)

    # When a worker and beat run for a while
    deadline = time.monotonic() + float(os.environ.get("E2E_SECONDS", "45"))
    with celery_worker(name="e2e", concurrency=2, log_path=tmp_path / "worker.log",
                       EXCHANGE_RATE_LIMITS=LIMITS) as worker:
        with celery_beat(worker.queue, tmp_path / "beat.log"):
            while time.monotonic() < deadline:
                if Opportunity.objects.filter(status__in=EXECUTED).count() >= 3:
                    break
                time.sleep(0.5)
        # Beat stopped: let in-flight work finish, then sync as beat would.
        time.sleep(2)
    settings.EXCHANGE_RATE_LIMITS = {"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}
    registry.clear_cache()
    for _ in range(20):
        orders_sync()
        if not Order.objects.filter(status__in=LIVE_STATES).exists() and not (
                Opportunity.objects.filter(status=Opportunity.Status.EXECUTING).exists()):
            break
        time.sleep(0.5)

    # Then opportunities were found and traded on both legs
    executed = Opportunity.objects.filter(status__in=EXECUTED)
    worker_log = (tmp_path / "worker.log").read_text()
    assert executed.exists(), worker_log[-5000:]
    for opportunity in executed:
        assert opportunity.orders.filter(purpose="entry").count() == 2
        assert opportunity.realized_pnl is not None
    # and every order the sandbox holds is known, with its fills; the
    # balances moved exactly as the recorded Trades say
    assert check_sandbox_agrees(spready_sandbox, before) >= 2 * executed.count()
    assert sum((o.realized_pnl for o in executed), Decimal(0)) != 0
