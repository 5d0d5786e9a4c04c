"""The Redis locks: one registry of names and TTLs, taken by the services
they protect, so every caller (task, command, test) gets the same rule."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from django.core.management import call_command

from arbsite.locks import (
    DETECT_OPPORTUNITIES,
    LOCKS,
    POLL_ORDERBOOKS,
    RECOVER_ORDERS,
    SYNC_ORDERS,
    Lock,
    lock_holder,
    redis_lock,
)
from tests.processes import ROOT, process_env
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


# --- Renewal, expiry of a dead holder's lock, takeover (issue 10 item 12) -------------

HOLDER = r"""
import sys, time, django
django.setup()
from arbsite import locks
name, ttl = sys.argv[1], float(sys.argv[2])
lock = locks.LOCKS.get(name) or locks.Lock(name, ttl, "a test's holder")
locks.LOCKS[name] = lock
with locks.redis_lock(lock) as held:
    print("held" if held else "refused", flush=True)
    time.sleep(300)
"""


@contextmanager
def holder_process(lock: Lock):
    """Another process (real Redis) that takes ``lock`` and keeps it until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, lock.name, str(lock.ttl_seconds)],
                            cwd=ROOT, env=process_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture
def short_lock(monkeypatch):
    lock = Lock("test-short", 1.0, "a lock of the tests, with a TTL of one second",
                max_hold_seconds=60)
    monkeypatch.setitem(LOCKS, lock.name, lock)
    return lock


def test_a_live_holder_keeps_its_lock_past_its_ttl_and_a_killed_one_loses_it_within_it(
        short_lock):
    with holder_process(short_lock) as proc:
        # Alive, it renews: three TTLs later the lock is still its own
        time.sleep(3 * short_lock.ttl_seconds)
        with redis_lock(short_lock) as refused:
            assert not refused
            assert (refused.holder.pid, refused.holder.host) == (proc.pid, socket.gethostname())
            assert "python -c test-short" in refused.holder.process and refused.ttl_left_s > 0

        # SIGKILLed, it renews no more: the lock is free within one TTL
        _kill(proc)
        deadline = time.monotonic() + short_lock.ttl_seconds + 0.5
        while lock_holder(short_lock)[0] is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        with redis_lock(short_lock) as taken:
            assert taken


def test_a_lock_taken_over_is_lost_by_its_holder_whose_renewal_extends_nothing(short_lock):
    with redis_lock(short_lock) as first:
        with redis_lock(short_lock, force=True) as second:
            assert second and second.taken_over.token == first.holder.token
            # The first holder's renewal finds the lock no longer its own
            assert first.lost.wait(timeout=2 * short_lock.ttl_seconds)
            assert lock_holder(short_lock)[0].token == second.holder.token
        # and its release leaves alone what is no longer its own (already released here)
    assert lock_holder(short_lock) == (None, None)


def test_a_waiting_caller_takes_the_lock_once_a_dead_holder_lets_it_expire(short_lock):
    with holder_process(short_lock) as proc:
        _kill(proc)
        with redis_lock(short_lock, wait=3 * short_lock.ttl_seconds) as taken:
            assert taken and taken.holder.pid == os.getpid()


@pytest.mark.django_db
def test_recover_orders_names_a_dead_holder_and_with_force_takes_its_lock_over(capsys):
    from trading.alerts.kinds import AlertKind
    from trading.alerts.models import Alert

    # Given a holder of the recovery lock SIGKILLed mid-recovery (its lock stays ~30 s)
    with holder_process(RECOVER_ORDERS) as proc:
        _kill(proc)
    host = socket.gethostname()

    # Without --force: refused, naming the holder and the way out
    with pytest.raises(SystemExit) as refused:
        call_command("recover_orders")
    assert refused.value.code == 4  # LOCKED_OUT
    err = capsys.readouterr().err
    assert f"held by pid {proc.pid} on {host}" in err and "--force" in err
    assert lock_holder(RECOVER_ORDERS)[0].pid == proc.pid

    # With --force: taken over, said, recorded, and recovery runs
    call_command("recover_orders", "--force")
    captured = capsys.readouterr()
    assert f"took the recover-orders lock over from pid {proc.pid} on {host}" in captured.err
    assert "recovery complete" in captured.out
    alert = Alert.objects.get(kind=AlertKind.LOCK_TAKEN_OVER)
    assert f"pid {proc.pid} on {host}" in alert.message and "recover_orders" in alert.title
    assert lock_holder(RECOVER_ORDERS) == (None, None)  # released when done


@pytest.mark.slow
@pytest.mark.django_db
def test_a_worker_killed_during_recovery_blocks_the_next_one_for_one_short_ttl_at_most(
        caplog):
    from trading.startup import recovery_run_at_startup

    # Given a worker SIGKILLed while it held the recovery lock
    with holder_process(RECOVER_ORDERS) as proc:
        _kill(proc)
    started = time.monotonic()

    # When the next worker starts, its start-up recovery waits the lock out and runs
    with caplog.at_level("INFO", logger="trading.startup"):
        recovery_run_at_startup()
    assert "start-up recovery complete" in caplog.text, caplog.text
    assert "another worker is recovering" not in caplog.text
    assert time.monotonic() - started < RECOVER_ORDERS.ttl_seconds + 2
