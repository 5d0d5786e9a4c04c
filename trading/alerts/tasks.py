"""The alerting and ledger tasks (registered through ``trading.tasks``)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="trading.deliver_alerts", ignore_result=True)
def deliver_alerts() -> None:
    """The outbox sweep: enqueued after each alert's commit and run by beat
    every few seconds (retries after each channel's back-off)."""
    from trading.alerts.delivery import deliveries_send

    report = deliveries_send()
    if report.sent or report.failed:
        logger.info("alerts: %d delivered, %d failed; waiting: %s", report.sent, report.failed,
                    ", ".join(report.channels_waiting) or "none")


@shared_task(name="trading.check_alerts", ignore_result=True)
def check_alerts() -> None:
    """The periodic conditions, reminders and the daily summary."""
    from trading.alerts.checks import checks_run

    checks_run()


@shared_task(name="trading.check_ledger", ignore_result=True)
def check_ledger() -> None:
    """Balances against the ledger on every enabled exchange."""
    from trading.services.ledger import ledger_check

    ledger_check()
