"""A task for tests of the worker itself (loaded with ``worker --include
tests.celery_probe``): it records each start and finish of a run in the
database, and takes as long as it is told."""

from __future__ import annotations

import time

from celery import shared_task
from django.db import connection

TABLE = "test_probe_runs"


def probe_table_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} "
                       "(id INTEGER PRIMARY KEY, run_id VARCHAR(64), event VARCHAR(16))"
                       if connection.vendor == "sqlite" else
                       f"CREATE TABLE IF NOT EXISTS {TABLE} "
                       "(id SERIAL PRIMARY KEY, run_id VARCHAR(64), event VARCHAR(16))")


def probe_events(run_id: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event FROM {TABLE} WHERE run_id = %s ORDER BY id", [run_id])
        return [row[0] for row in cursor.fetchall()]


def _record(run_id: str, event: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (run_id, event) VALUES (%s, %s)", [run_id, event])


@shared_task(name="tests.probe_run", acks_late=True, ignore_result=True)
def probe_run(run_id: str, seconds: float) -> None:
    _record(run_id, "start")
    time.sleep(seconds)
    _record(run_id, "done")
