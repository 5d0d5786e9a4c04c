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

    report = orderbooks_poll()
    if report.ran and report.fetched:
        detect_opportunities.delay()


@shared_task(name="trading.detect_opportunities", ignore_result=True)
def detect_opportunities() -> None:
    """One detection cycle at a time across all workers: two overlapping
    cycles could each plan on the same balances. A cycle that finds the lock
    taken does nothing; the next poll brings fresher books anyway."""
    from arbsite.locks import redis_lock
    from trading.services.detection import opportunities_detect

    with redis_lock("detect-opportunities", ttl_seconds=10) as acquired:
        if acquired:
            report = opportunities_detect()
            if report.opportunities_created:
                logger.info("detection: %d opportunities %s in %.1f ms",
                            report.opportunities_created, report.opportunity_ids,
                            report.elapsed_ms)


@shared_task(name="trading.execute_opportunity", ignore_result=True)
def execute_opportunity(opportunity_id: int) -> None:
    from trading.services.execution import opportunity_execute

    opportunity_execute(opportunity_id=opportunity_id)


@shared_task(name="trading.sync_orders", ignore_result=True)
def sync_orders() -> None:
    from arbsite.locks import redis_lock
    from trading.services.sync import orders_sync

    with redis_lock("sync-orders", ttl_seconds=60) as acquired:
        if acquired:
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
                "another recovery was running" if report.locked_out
                else ("complete" if report.complete else "INCOMPLETE"))


from trading.alerts.tasks import check_alerts, check_ledger, deliver_alerts  # noqa: E402, F401
