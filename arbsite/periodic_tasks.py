"""Changing the periodic schedule by hand (django-celery-beat's rows).

The services behind the schedule's admin actions: enable or disable
periodic tasks, or run them once now. Each validates its reason, changes
rows under a row lock (saved, so django-celery-beat's signals tell beat),
and returns what it changed for the admin to report and audit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import PeriodicTask

logger = logging.getLogger(__name__)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    return reason


def periodic_tasks_enabled_set(*, task_ids: list[int], enabled: bool, actor: str,
                               reason: str) -> list[PeriodicTask]:
    """Enable or disable these periodic tasks; returns those that changed."""
    reason = _require_reason(reason)
    with transaction.atomic():
        rows = list(PeriodicTask.objects.select_for_update().filter(pk__in=task_ids)
                    .order_by("pk"))
        changed = [row for row in rows if row.enabled != enabled]
        for row in changed:
            row.enabled = enabled
            row.save()
    for row in changed:
        logger.warning("periodic task %r %s by %s: %s", row.name,
                       "enabled" if enabled else "disabled", actor, reason)
    return changed


@dataclass(frozen=True)
class TaskRun:
    periodic_task: PeriodicTask
    task_id: str


def periodic_tasks_run(*, task_ids: list[int], actor: str, reason: str) -> list[TaskRun]:
    """Send each of these periodic tasks once now, as beat would (its
    arguments, queue and name header). Unknown task names are refused
    before anything is sent."""
    reason = _require_reason(reason)
    rows = list(PeriodicTask.objects.filter(pk__in=task_ids).order_by("pk"))
    current_app.loader.import_default_modules()
    unknown = [row.task for row in rows if row.task not in current_app.tasks]
    if unknown:
        raise ValidationError(f"Unknown task(s): {', '.join(sorted(set(unknown)))}; none sent.")
    runs = []
    for row in rows:
        result = current_app.send_task(
            row.task, args=json.loads(row.args or "[]"), kwargs=json.loads(row.kwargs or "{}"),
            queue=row.queue or None, headers={"periodic_task_name": row.name},
        )
        logger.warning("periodic task %r run by hand by %s (task %s): %s", row.name, actor,
                       result.id, reason)
        runs.append(TaskRun(row, result.id))
    return runs
