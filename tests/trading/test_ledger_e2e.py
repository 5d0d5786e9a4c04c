"""No false alarm: a real worker and beat trade against the sandbox for a
couple of minutes with the ledger checked every 20 s; every judged check
matches and no ledger alert is raised."""

from __future__ import annotations

import os
import time

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from exchanges import registry
from exchanges.models import Exchange
from exchanges.states import LIVE_STATES
from tests.processes import celery_worker
from tests.trading.test_e2e import EXECUTED, LIMITS, celery_beat, spready_sandbox  # noqa: F401
from trading.alerts.kinds import AlertKind
from trading.alerts.models import Alert
from trading.capital.models import LedgerCheck
from trading.models import Opportunity, Order, RiskSettings
from trading.services.ledger import ledger_check
from trading.services.setup import schedule_install
from trading.services.sync import orders_sync

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_demo_trading_raises_no_ledger_alarm(trading_setup, spready_sandbox, tmp_path,  # noqa: F811
                                             settings):
    for exchange in Exchange.objects.all():
        exchange.base_url = spready_sandbox.base_url(exchange.name)
        exchange.save()
    registry.clear_cache()
    risk = RiskSettings.load()
    risk.max_book_age_ms = 3000
    risk.save()
    schedule_install()
    every_20s, _ = IntervalSchedule.objects.get_or_create(every=20, period="seconds")
    PeriodicTask.objects.filter(name="check ledger").update(interval=every_20s, expire_seconds=20)
    ledger_check()  # the first balances: the baseline

    seconds = float(os.environ.get("LEDGER_E2E_SECONDS", "120"))
    deadline = time.monotonic() + seconds
    with celery_worker(name="ledger-e2e", concurrency=2, log_path=tmp_path / "worker.log",
                       EXCHANGE_RATE_LIMITS=LIMITS) as worker:
        with celery_beat(worker.queue, tmp_path / "beat.log"):
            while time.monotonic() < deadline:
                time.sleep(1)
        time.sleep(2)
    settings.EXCHANGE_RATE_LIMITS = {"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}
    registry.clear_cache()
    for _ in range(20):
        orders_sync()
        if not Order.objects.filter(status__in=LIVE_STATES).exists() and not (
                Opportunity.objects.filter(status=Opportunity.Status.EXECUTING).exists()):
            break
        time.sleep(0.5)
    final = ledger_check()

    worker_log = (tmp_path / "worker.log").read_text()
    assert Opportunity.objects.filter(status__in=EXECUTED).exists(), worker_log[-3000:]
    judged = LedgerCheck.objects.filter(status="ok")
    assert judged.filter(fills_counted__gt=0).exists(), "no check judged a balance moved by fills"
    mismatches = list(LedgerCheck.objects.filter(status="mismatch")
                      .values_list("exchange__name", "asset", "difference", "note"))
    assert mismatches == [], mismatches
    assert not Alert.objects.filter(kind=AlertKind.LEDGER_MISMATCH).exists()
    assert all(not run.mismatches and not run.error for run in final)
    assert LedgerCheck.objects.filter(status__in=("ok", "unsettled")).count() >= 3 * 4 * 3
