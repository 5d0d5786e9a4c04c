"""Celery tasks: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from trading.services.heartbeat import heartbeat_record


@shared_task(name="trading.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_record(role="worker")
