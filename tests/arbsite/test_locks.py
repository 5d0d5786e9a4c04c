"""The Redis locks: one registry of names and TTLs, taken by the services
they protect, so every caller (task, command, test) gets the same rule."""

import pytest

from arbsite.locks import (
    DETECT_OPPORTUNITIES,
    LOCKS,
    POLL_ORDERBOOKS,
    SYNC_ORDERS,
    Lock,
    redis_lock,
)
from trading.models import Opportunity
from trading.services.detection import opportunities_detect
from trading.services.polling import orderbooks_poll
from trading.services.sync import orders_sync


def test_a_lock_is_held_by_one_caller_and_released_by_it():
    with redis_lock(SYNC_ORDERS) as first:
        with redis_lock(SYNC_ORDERS) as second:
            assert (bool(first), bool(second)) == (True, False)
    with redis_lock(SYNC_ORDERS) as again:
        assert again


def test_only_registered_locks_are_taken():
    assert all(lock.ttl_seconds > 0 and lock.why for lock in LOCKS.values())
    with pytest.raises(ValueError, match="not in arbsite.locks.LOCKS"):
        with redis_lock(Lock("sync-orders", 1.0, "a second definition of the name")):
            pass


@pytest.mark.django_db
def test_detection_sync_and_poll_do_nothing_while_another_runs():
    enqueued: list[int] = []
    with redis_lock(DETECT_OPPORTUNITIES), redis_lock(SYNC_ORDERS), \
            redis_lock(POLL_ORDERBOOKS):
        detected = opportunities_detect(enqueue_execution=enqueued.append)
        synced = orders_sync()
        polled = orderbooks_poll(request_detection=lambda: enqueued.append(0))
    assert detected.locked_out and synced.locked_out and not polled.ran
    assert enqueued == [] and not Opportunity.objects.exists()
