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
        name="poll order books",
        task="trading.poll_orderbooks",
        every_seconds=1,
        expires_seconds=1,
        description="Fetch every enabled book into Redis, then run detection.",
    ),
    PeriodicSpec(
        name="sync orders",
        task="trading.sync_orders",
        every_seconds=3,
        expires_seconds=3,
        description="Bring non-final orders up to date, record fills, settle opportunities.",
    ),
    PeriodicSpec(
        name="refresh balances",
        task="trading.refresh_balances",
        every_seconds=15,
        expires_seconds=15,
        description="Balances per exchange, used by detection to size trades.",
    ),
    PeriodicSpec(
        name="risk snapshot",
        task="trading.refresh_risk_snapshot",
        every_seconds=60,
        expires_seconds=60,
        description="Today's risk figures from the database; closes the past trading day.",
    ),
    PeriodicSpec(
        name="exchange rules and fees",
        task="exchanges.sync_market_rules",
        every_seconds=86400,
        expires_seconds=3600,
        description="Each exchange's published market rules and the account's fee rates "
                    "onto the listings and exchanges (exchanges/services/rules.py).",
    ),
    PeriodicSpec(
        name="heartbeat",
        task="trading.heartbeat",
        every_seconds=10,
        expires_seconds=10,
        description="Proves that beat schedules and a worker runs (control panel, /healthz).",
    ),
    PeriodicSpec(
        name="deliver alerts",
        task="trading.deliver_alerts",
        every_seconds=5,
        expires_seconds=5,
        description="Send pending alert deliveries; channels that failed wait out their back-off.",
    ),
    PeriodicSpec(
        name="check alerts",
        task="trading.check_alerts",
        every_seconds=15,
        expires_seconds=15,
        description="Breakers, stale books, exchanges down, stuck orders, loss, budgets, "
                    "reminders, the daily summary.",
    ),
    PeriodicSpec(
        name="check ledger",
        task="trading.check_ledger",
        every_seconds=120,
        expires_seconds=120,
        description="Each exchange's balances against fills and transfers recorded.",
    ),
)
