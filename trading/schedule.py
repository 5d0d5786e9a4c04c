"""The periodic schedule, declared in code.

``python manage.py setup`` installs it into django-celery-beat's tables,
where an operator sees and edits it in the admin. Installing is idempotent
and never overwrites an operator's edits (``setup --reset-schedule`` does).
Every entry expires, so a backlog of runs never piles up behind a stalled
worker: a run that could not start in time is dropped, the next one comes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    task: str
    every_seconds: int
    expires_seconds: int
    description: str


PERIODIC_TASKS: tuple[PeriodicSpec, ...] = (
    PeriodicSpec(
        name="heartbeat",
        task="trading.heartbeat",
        every_seconds=10,
        expires_seconds=10,
        description="Proves that beat schedules and a worker runs (control panel, /healthz).",
    ),
)
