"""The periodic tasks' last success and last failure, kept in Redis.

Celery's ``task_success`` and ``task_failure`` signals (connected in
``arbsite/celery.py``) call ``task_run_record`` for every task of the
periodic schedule (``trading.schedule.PERIODIC_TASKS``): one hash per task
with the time of its last success, its last failure and that failure's
error, how many runs in a row have failed (zeroed by a success) and since
when. The
health selector (``trading.problems``) reads them back: a task failing run
after run is a problem on the control panel and in ``/healthz``.

A record lives a day after its last write, so a task removed from the
schedule is forgotten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from arbsite.redis import key, redis_client
from trading.schedule import PERIODIC_TASKS

logger = logging.getLogger(__name__)

RECORD_TTL_SECONDS = 24 * 3600
PERIODIC_TASK_NAMES = frozenset(spec.task for spec in PERIODIC_TASKS)


def _key(task: str) -> str:
    return key("task-runs", task)


def task_run_record(*, task: str, ok: bool, error: str = "",
                    now: datetime | None = None) -> None:
    """Record one run of ``task`` (only the periodic ones are kept). Never
    raises: a Redis error is logged, the task's own outcome stands."""
    if task not in PERIODIC_TASK_NAMES:
        return
    now = now or timezone.now()
    try:
        pipe = redis_client().pipeline(transaction=True)
        name = _key(task)
        if ok:
            pipe.hset(name, mapping={"last_success_at": now.isoformat(),
                                     "failures_in_a_row": 0})
            pipe.hdel(name, "failing_since")
        else:
            pipe.hset(name, mapping={"last_failure_at": now.isoformat(),
                                     "last_error": error[:1000]})
            pipe.hsetnx(name, "failing_since", now.isoformat())  # the run's first failure
            pipe.hincrby(name, "failures_in_a_row", 1)
        pipe.expire(name, RECORD_TTL_SECONDS)
        pipe.execute()
    except Exception:
        logger.exception("task runs: could not record %s of %s", "success" if ok else "failure",
                         task)


@dataclass(frozen=True)
class TaskRuns:
    task: str
    name: str  # the schedule's name ("sync orders")
    every_seconds: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str
    failures_in_a_row: int
    failing_since: datetime | None = None  # the first failure since the last success


def _moment(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def task_runs_all() -> list[TaskRuns]:
    """Every periodic task's record, in the schedule's order (one round trip)."""
    pipe = redis_client().pipeline(transaction=False)
    for spec in PERIODIC_TASKS:
        pipe.hgetall(_key(spec.task))
    result = []
    for spec, raw in zip(PERIODIC_TASKS, pipe.execute(), strict=True):
        result.append(TaskRuns(
            task=spec.task, name=spec.name, every_seconds=spec.every_seconds,
            last_success_at=_moment(raw.get("last_success_at")),
            last_failure_at=_moment(raw.get("last_failure_at")),
            last_error=raw.get("last_error", ""),
            failures_in_a_row=int(raw.get("failures_in_a_row") or 0),
            failing_since=_moment(raw.get("failing_since"))))
    return result


def task_runs_clear() -> None:
    """Forget every record (tests, ``run.sh reset``)."""
    redis_client().delete(*[_key(spec.task) for spec in PERIODIC_TASKS])
