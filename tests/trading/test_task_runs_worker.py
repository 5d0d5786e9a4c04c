"""A periodic task failing in a real worker (Celery's signals, not eager
mode) is recorded with its error, and ``/healthz`` answers 503 naming it."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from exchanges.models import Exchange
from tests.processes import celery_worker
from trading.services.task_runs import task_runs_all
from trading.tasks import poll_orderbooks

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def runs(task: str):
    return next(r for r in task_runs_all() if r.task == task)


def test_a_task_failing_in_a_real_worker_is_recorded_and_makes_healthz_503(trading_setup,
                                                                           client):
    # The real cause: an exchange row edited to an adapter that does not exist.
    Exchange.objects.filter(name="nobitex").update(adapter="nobitexx")
    with celery_worker(name="task-runs", ARBSITE_STARTUP_RECOVERY="false") as worker:
        for _ in range(3):
            poll_orderbooks.apply_async(queue=worker.queue)
            time.sleep(1.2)  # the poll's lock is held for the run
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and runs("trading.poll_orderbooks").failures_in_a_row < 3:
            time.sleep(0.2)
    record = runs("trading.poll_orderbooks")
    assert record.failures_in_a_row >= 3 and record.last_success_at is None
    assert "KeyError" in record.last_error and "nobitexx" in record.last_error
    assert record.failing_since is not None and record.last_failure_at >= record.failing_since

    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    failing = [p for p in response.json()["problems"] if p["code"] == "task_failing"]
    assert [p["subject"] for p in failing] == ["task:trading.poll_orderbooks"]
