"""The Celery application.

Configuration lives in Django settings under the ``CELERY_`` prefix (see
``arbsite/settings.py`` for the reasoning behind acks_late, prefetch and the
time limits). Beat reads its schedule from the database
(django-celery-beat); ``python manage.py setup`` installs it.
"""

import gc
import os

from celery import Celery
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_success,
    worker_process_init,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbsite.settings")

app = Celery("arbsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Database connections in workers live as Django's CONN_MAX_AGE says, as they
# do in the web process. Celery's Django fixup otherwise closes every
# connection before and after each task (PostgreSQL: a new connection, its
# authentication and set-up, per task: milliseconds on the trading path).
# With a reuse count set, the fixup only closes them every that many tasks;
# ``_close_old_connections`` below does what Django does around a request:
# close a connection that is past CONN_MAX_AGE or unusable after an error
# (and, with CONN_HEALTH_CHECKS, check it before its next use).
app.conf.update(CELERY_DB_REUSE_MAX=1000)
app.autodiscover_tasks()
app.steps["worker"].add("trading.alerts.watchdog.BeatWatchdog")  # raises "beat missing"


@worker_ready.connect
def _reconcile_on_start(**kwargs):
    """Every worker reconciles with the exchanges once it is ready (trading/startup.py)."""
    from trading.startup import on_worker_ready

    on_worker_ready(**kwargs)


@worker_process_init.connect
def _freeze_start_up_objects(**kwargs):
    """Each pool process moves what it inherited at start-up (modules,
    settings, Django's app registry) out of the garbage collector's sight:
    the full collections that otherwise walk them on the hot path, at
    random moments, are most of the latency's tail."""
    gc.freeze()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**kwargs):
    """Around each task, as Django around each request: close connections
    that are past CONN_MAX_AGE or broken; keep the others."""
    task = kwargs.get("task")
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@task_success.connect
def _periodic_task_succeeded(sender=None, **kwargs):
    """Each periodic task's last success, for health (trading/services/task_runs.py)."""
    from trading.services.task_runs import task_run_record

    task_run_record(task=getattr(sender, "name", ""), ok=True)


@task_failure.connect
def _periodic_task_failed(sender=None, exception=None, **kwargs):
    """Each periodic task's last failure with its error, for health."""
    from trading.services.task_runs import task_run_record

    task_run_record(task=getattr(sender, "name", ""), ok=False,
                    error=f"{type(exception).__name__}: {exception}")


@app.task(name="arbsite.bench_hop", ignore_result=True)
def bench_hop(sent_at: float, list_key: str) -> None:
    """The benches' reference: one Celery hop, from ``delay`` to the task running
    in a worker (``arbsite.bench.hops``). Writes only under the bench's key."""
    import time

    from arbsite.redis import redis_client

    redis_client().rpush(list_key, repr(time.time() - sent_at))
