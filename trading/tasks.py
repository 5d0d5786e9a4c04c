"""Celery tasks: thin wrappers that take ids and call one service.

Every task is safe to run twice (acks_late: see arbsite/settings.py).
"""

from __future__ import annotations

import logging

from celery import shared_task

from trading.services.heartbeat import heartbeat_record

logger = logging.getLogger(__name__)


@shared_task(name="trading.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_record(role="worker")


@shared_task(name="trading.poll_orderbooks", ignore_result=True)
def poll_orderbooks() -> None:
    from trading.services.polling import orderbooks_poll

    orderbooks_poll(request_detection=detect_opportunities.delay)


@shared_task(name="trading.detect_opportunities", ignore_result=True)
def detect_opportunities() -> None:
    """One detection cycle at a time across all workers (two overlapping cycles
    could each plan on the same balances), again at once if books changed
    during it (trading/services/detection_trigger.py)."""
    from trading.services.detection import opportunities_detect

    report = opportunities_detect(enqueue_execution=execute_opportunity.delay)
    if report.opportunities_created:
        logger.info("detection: %d opportunities %s in %.1f ms (%d runs)",
                    report.opportunities_created, report.opportunity_ids, report.elapsed_ms,
                    report.runs)


@shared_task(name="trading.execute_opportunity", ignore_result=True)
def execute_opportunity(opportunity_id: int) -> None:
    from trading.services.execution import opportunity_execute

    opportunity_execute(opportunity_id=opportunity_id)


@shared_task(name="trading.sync_orders", ignore_result=True)
def sync_orders() -> None:
    from trading.services.sync import orders_sync

    orders_sync()


@shared_task(name="trading.refresh_balances", ignore_result=True)
def refresh_balances() -> None:
    from trading.services.polling import balances_refresh

    balances_refresh()


@shared_task(name="trading.refresh_risk_snapshot", ignore_result=True)
def refresh_risk_snapshot() -> None:
    from trading.services.risk import daily_loss_enforce
    from trading.services.snapshots import snapshot_refresh

    daily_loss_enforce()
    snapshot_refresh()


@shared_task(name="trading.recover_orders", ignore_result=True)
def recover_orders(exchange: str | None = None) -> None:
    """Recovery run from the admin's control panel; the service keeps its
    summary for the panel. Another recovery running: this one does nothing."""
    from trading.services.recovery import orders_recover

    report = orders_recover(exchange_names=[exchange] if exchange else None, wait_grace=False)
    logger.info("recovery of %s: %s", exchange or "all exchanges",
                f"another recovery was running (lock held by {report.lock_holder or '?'})"
                if report.locked_out
                else ("complete" if report.complete else "INCOMPLETE"))


from trading.alerts.tasks import check_alerts, check_ledger, deliver_alerts  # noqa: E402, F401
