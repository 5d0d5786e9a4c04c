"""Celery tasks of the exchange layer: thin, each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="exchanges.sync_market_rules", ignore_result=True)
def sync_market_rules() -> None:
    """Daily: every enabled exchange's published rules and fee rates onto its rows."""
    from exchanges.services.rules import exchange_rules_sync

    for report in exchange_rules_sync():
        logger.info("rules of %s: %d changes, %d operator values kept, %d listings "
                    "unchanged, %d problems", report.exchange, len(report.changed),
                    len(report.kept), report.unchanged, len(report.problems))
