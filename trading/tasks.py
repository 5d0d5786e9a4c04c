"""Celery tasks: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from trading.services.heartbeat import heartbeat_record


@shared_task(name="trading.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_record(role="worker")


@shared_task(name="trading.detect_opportunities", ignore_result=True)
def detect_opportunities() -> None:
    from trading.services.detection import opportunities_detect

    opportunities_detect()


@shared_task(name="trading.execute_opportunity", ignore_result=True)
def execute_opportunity(opportunity_id: int) -> None:
    from trading.services.execution import opportunity_execute

    opportunity_execute(opportunity_id=opportunity_id)
