"""A real worker runs tasks from the real Redis broker (not eager mode)."""

import time

import pytest
from django.utils import timezone

from arbsite.celery import app as celery_app
from tests.processes import celery_worker
from trading.services.heartbeat import heartbeat_last
from trading.tasks import heartbeat


def test_celery_is_configured_for_safe_redelivery():
    conf = celery_app.conf
    assert conf.broker_url.startswith(("redis://", "rediss://", "unix://"))
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_acks_late is True
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    # django-celery-beat's database scheduler behind the beat lease (one beat at a
    # time), with beat's heartbeat and watchdog
    from arbsite.beat import LeasedDatabaseScheduler
    from trading.alerts.beat import WatchedScheduler

    assert conf.beat_scheduler == "trading.alerts.beat:WatchedScheduler"
    assert issubclass(WatchedScheduler, LeasedDatabaseScheduler)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_through_the_redis_broker():
    assert not celery_app.conf.task_always_eager
    with celery_worker(name="heartbeat") as worker:
        before = timezone.now()
        heartbeat.apply_async(queue=worker.queue)
        deadline = time.monotonic() + 30
        seen = None
        while time.monotonic() < deadline:
            seen = heartbeat_last(role="worker")
            if seen and seen >= before:
                break
            time.sleep(0.1)
    assert seen is not None and seen >= before, "the worker never ran the heartbeat"
