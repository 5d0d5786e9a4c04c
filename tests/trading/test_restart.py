"""The restart scenario, end to end (issue 12): the system trades — a real
sandbox process keeping its state in a file, a worker and beat — is stopped
as Ctrl-C stops it (the worker and beat first, then the sandbox), and run
again on the same database and sandbox state. Trading resumes within a
minute, with no IntegrityError in any log, no order left ``pending_submit``
or ``unknown``, no opportunity left executing and nothing flagged for a
human. (A restarted sandbox that handed out exchange order ids again once
crashed 14 executions after their orders were sent.)"""

from __future__ import annotations

import signal
import socket
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from exchanges import registry
from exchanges.models import Exchange
from exchanges.sandbox.credentials import ensure_credentials_file
from exchanges.sandbox.server import PREFIXES
from exchanges.states import OrderState
from tests.processes import celery_beat, celery_worker, sandbox_process, stop_process
from trading.models import Opportunity, Order, RiskSettings
from trading.services.setup import exchanges_use_sandbox, schedule_install

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The sandbox publishes its limits (WIRE.md); run.sh and this test use them.
LIMITS = '{"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}'
RESUME_WITHIN = 60.0  # seconds from the second start
# An order younger than sync's pending grace may belong to an executor sending it.
PENDING_GRACE_ALLOWANCE = timedelta(seconds=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, timeout: float, procs=()) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        for proc in procs:
            assert proc.poll() is None, f"a process stopped with {proc.returncode}"
        time.sleep(0.5)
    return bool(what())


def _traded(since_id: int = 0) -> int:
    """Opportunities after ``since_id`` that traded: sent, with a fill recorded
    (on a loaded machine the spready books move before a leg arrives, and a
    leg that rests is cancelled: such an opportunity traded nothing)."""
    return (Opportunity.objects.filter(pk__gt=since_id, orders__trades__isnull=False)
            .distinct().count())


def _left_behind(before: int) -> list[str]:
    """What the first run left that the second has not settled: its orders
    still pending or unknown, its opportunities still executing, and any
    order flagged for a human."""
    orders = Order.objects.filter(opportunity_id__lte=before,
                                  status__in=[OrderState.PENDING_SUBMIT, OrderState.UNKNOWN])
    opportunities = Opportunity.objects.filter(pk__lte=before,
                                               status=Opportunity.Status.EXECUTING)
    return ([f"order {o.client_order_id} {o.status}" for o in orders]
            + [f"opportunity {o.pk} executing" for o in opportunities]
            + [f"order {o.client_order_id} needs a human"
               for o in Order.objects.filter(needs_human=True)])


def _why_not(before: int) -> dict:
    """What detection and execution did since the restart (for a failure's message)."""
    from django.db.models import Count

    from trading.detection.rejections import rejections_recent

    return {"opportunities": dict(Opportunity.objects.filter(pk__gt=before).values_list(
                "status").annotate(n=Count("id"))),
            "rejections": [(line.reason, line.count, line.last)
                           for line in rejections_recent(minutes=2).lines][:6]}


def _run(*, port, stream_port, credentials, state, logs: Path, run: int):
    """One run of the system: the sandbox, a worker and beat (ExitStack-like)."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        sandbox = stack.enter_context(sandbox_process(
            port=port, stream_port=stream_port, credentials=credentials, state=state,
            log_path=logs / "sandbox.log"))
        worker = stack.enter_context(celery_worker(
            name=f"restart{run}", concurrency=2, log_path=logs / f"worker-{run}.log",
            EXCHANGE_RATE_LIMITS=LIMITS))
        beat = stack.enter_context(celery_beat(
            queue=worker.queue, log_path=logs / f"beat-{run}.log", EXCHANGE_RATE_LIMITS=LIMITS))
        return stack.pop_all(), sandbox, worker, beat


def _ctrl_c(sandbox, worker, beat, stack) -> None:
    """As Ctrl-C stops it: beat and the worker interrupted (the worker finishes
    the tasks it holds), then the sandbox, which writes its state on the way out."""
    beat.send_signal(signal.SIGINT)
    worker.send_signal(signal.SIGINT)
    stop_process(beat, signal.SIGINT)
    stop_process(worker, signal.SIGINT, timeout=30)
    stop_process(sandbox)
    stack.close()


def test_stop_and_start_again_on_the_same_database_and_sandbox_state(trading_setup, tmp_path):
    # Given the exchanges pointed at a sandbox process whose spreads open often
    port, stream_port = _free_port(), _free_port()
    credentials_path = tmp_path / "sandbox.env"
    credentials = ensure_credentials_file(credentials_path)
    state = tmp_path / "sandbox-state.json"
    where = {"port": port, "stream_port": stream_port, "credentials": credentials_path,
             "state": state, "logs": tmp_path}
    exchanges_use_sandbox(base_url_of=lambda adapter: f"http://127.0.0.1:{port}"
                          + PREFIXES[adapter], credentials=credentials)
    registry.clear_cache()
    risk = RiskSettings.load()
    risk.max_book_age_ms = 3000
    # Unwinds on a loaded machine lose money: the daily loss limit must not be
    # what stops trading here (it is not a restart's doing).
    risk.max_daily_loss_irr = Decimal("1e15")
    risk.max_daily_loss_usdt = Decimal("1e9")
    risk.save()
    schedule_install()
    assert Exchange.objects.filter(base_url__contains=str(port)).count() == 3

    # When it trades, is stopped, and is started again
    stack, sandbox, worker, beat = _run(**where, run=1)
    try:
        assert _wait(lambda: _traded() >= 1, 120, (sandbox, worker, beat)), (
            (tmp_path / "worker-1.log").read_text()[-5000:])
    finally:
        _ctrl_c(sandbox, worker, beat, stack)
    assert state.exists()
    before = Opportunity.objects.order_by("-pk").values_list("pk", flat=True).first()

    restarted = time.monotonic()
    stack, sandbox, worker, beat = _run(**where, run=2)
    try:
        # Then trading resumes within a minute, and what the first run left is settled
        resumed = _wait(lambda: _traded(before) >= 1 and not _left_behind(before),
                        RESUME_WITHIN - (time.monotonic() - restarted),
                        (sandbox, worker, beat))
        took = time.monotonic() - restarted
        worker_log = (tmp_path / "worker-2.log").read_text()
        assert resumed, (took, _left_behind(before), _why_not(before), worker_log[-5000:])
    finally:
        _ctrl_c(sandbox, worker, beat, stack)

    logs = {path.name: path.read_text() for path in tmp_path.glob("*.log")}
    for name, text in logs.items():
        assert "IntegrityError" not in text, (name, text[text.find("IntegrityError") - 3000:]
                                              [:4000])
    assert "start-up recovery complete" in logs["worker-2.log"], logs["worker-2.log"][-3000:]
    # Every order of both runs is settled, not only the first run's (the second
    # run's last ones had the worker's warm shutdown to finish in)
    assert not Order.objects.filter(status=OrderState.PENDING_SUBMIT,
                                    created_at__lt=timezone.now() - PENDING_GRACE_ALLOWANCE
                                    ).exists()
