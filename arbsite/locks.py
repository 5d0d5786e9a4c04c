"""The Redis locks, named in one registry with their TTLs (Saleor's
``core/db/locks.py`` habit), for work that must not overlap across
processes and hosts.

``SET key value NX PX ttl`` to take one. The value names its holder (host,
pid, process, when taken, a fencing number) and carries a random ownership
token: only the holder renews or releases it (Lua compare-and-set on the
whole value), so a renewal never extends someone else's lock.

TTLs are short and a held lock is renewed while held (a watchdog thread
per lock, every third of its TTL, Redisson's habit): a live holder keeps
it however long its work takes (up to ``max_hold_seconds``, after which a
holder alive but stuck lets it go), and a holder that dies (SIGKILL, power)
leaves it for one TTL at most. A renewal that finds the value changed (the
lock expired, or an operator took it over: ``force``) sets ``lost`` and
stops; the holder may check it at its safe points.

A caller that finds a lock taken does nothing (the next run comes soon), or
waits for it (``wait``), or, for an operator who knows the holder is dead,
takes it over (``force``; the displaced holder is returned to be logged and
audited). Each is taken inside the service it protects, whichever face
calls it (task, command, start-up), never by the caller.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from arbsite.redis import key, redis_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lock:
    name: str
    ttl_seconds: float
    why: str
    # Renewal stops after this long: a holder alive but stuck lets the lock go.
    max_hold_seconds: float = 600.0


POLL_ORDERBOOKS = Lock(
    "poll-orderbooks", 5.0,
    "one book poll at a time (trading.services.polling); beat runs it every second",
    max_hold_seconds=60.0,
)
DETECT_OPPORTUNITIES = Lock(
    "detect-opportunities", 10.0,
    "one detection cycle at a time (trading.services.detection): two overlapping cycles "
    "could each plan on the same balances",
    max_hold_seconds=60.0,
)
SYNC_ORDERS = Lock(
    "sync-orders", 15.0,
    "one periodic order sync at a time (trading.services.sync)",
    max_hold_seconds=600.0,
)
RECOVER_ORDERS = Lock(
    "recover-orders", 30.0,
    "one recovery at a time (trading.services.recovery), from recover_orders, a worker's "
    "start-up or the control panel; renewed while it waits out rate limits, so a worker "
    "killed during it blocks the next one's for 30 s at most (recover_orders --force "
    "takes it over at once)",
    max_hold_seconds=3600.0,
)

CHECK_ALERTS = Lock(
    "check-alerts", 15.0,
    "one run of the periodic alert checks at a time (trading.alerts.checks)",
    max_hold_seconds=300.0,
)
CHECK_LEDGER = Lock(
    "check-ledger", 30.0,
    "one ledger reconciliation at a time (trading.services.ledger); it waits out rate limits",
    max_hold_seconds=900.0,
)
DELIVER_ALERT_CHANNEL = Lock(
    "alert-channel", 30.0,
    "one delivery sweep per alert channel at a time (trading.alerts.delivery; scoped by "
    "channel id); while held, a delivery's claim",
    max_hold_seconds=600.0,
)
CANCEL_LEG = Lock(
    "cancel-leg", 30.0,
    "one cancel of a resting entry leg at a time (trading.services.legs; scoped by order "
    "id): the executor, sync, recovery and the kill switch never send it twice at once",
    max_hold_seconds=120.0,
)
SETTLE_OPPORTUNITY = Lock(
    "settle-opportunity", 30.0,
    "one settlement of an opportunity at a time (trading.services.settlement; scoped by "
    "opportunity id): execution, sync and recovery never place two unwinds for one "
    "one-sided fill",
    max_hold_seconds=600.0,
)

LOCKS: dict[str, Lock] = {lock.name: lock for lock in (
    POLL_ORDERBOOKS, DETECT_OPPORTUNITIES, SYNC_ORDERS, RECOVER_ORDERS, CHECK_ALERTS,
    CHECK_LEDGER, DELIVER_ALERT_CHANNEL, CANCEL_LEG, SETTLE_OPPORTUNITY)}

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
# Take the lock whoever holds it; returns the value it replaced (false: none).
_TAKE_OVER = """
local old = redis.call('get', KEYS[1])
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return old
"""


def _process_name() -> str:
    """``celery -A arbsite worker``, ``manage.py recover_orders``, ``python -c …``."""
    first = sys.argv[0] if sys.argv else ""
    first = "python -c" if first in ("", "-c") else os.path.basename(first)
    argv = [first, *sys.argv[1:4]]
    return " ".join(argv)[:80]


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its value says."""

    host: str
    pid: int
    process: str
    started_at: str  # ISO 8601, UTC
    fence: int
    token: str = field(repr=False)

    @classmethod
    def parse(cls, raw: str | None) -> Holder | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(host=str(data["host"]), pid=int(data["pid"]),
                       process=str(data.get("process", "")),
                       started_at=str(data["started_at"]), fence=int(data.get("fence", 0)),
                       token=str(data["token"]))
        except (ValueError, KeyError, TypeError):
            # A value of another format (a lock taken by an older release).
            return cls(host="?", pid=0, process="unknown holder", started_at="?", fence=0,
                       token=raw)

    def value(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "process": self.process,
                           "started_at": self.started_at, "fence": self.fence,
                           "token": self.token}, sort_keys=True)

    def describe(self) -> str:
        """``pid 4242 on web-1 (celery -A arbsite worker), since 2026-…Z``."""
        return (f"pid {self.pid} on {self.host} ({self.process}), since {self.started_at}, "
                f"fence {self.fence}")


class HeldLock:
    """What ``redis_lock`` yields: true when this caller holds the lock.

    - ``holder``: ours when acquired; otherwise whoever holds it (None if it
      was released meanwhile), with ``ttl_left_s`` of theirs;
    - ``taken_over``: with ``force``, the holder this caller displaced;
    - ``lost``: set when a renewal found the lock no longer ours."""

    def __init__(self, lock: Lock, lock_key: str) -> None:
        self.lock = lock
        self.key = lock_key
        self.acquired = False
        self.holder: Holder | None = None
        self.ttl_left_s: float | None = None
        self.taken_over: Holder | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __bool__(self) -> bool:
        return self.acquired

    def __repr__(self) -> str:
        return (f"<HeldLock {self.key} acquired={self.acquired} "
                f"holder={self.holder.describe() if self.holder else None}>")

    def _renew_loop(self) -> None:
        client = redis_client()
        interval = self.lock.ttl_seconds / 3
        ttl_ms = int(self.lock.ttl_seconds * 1000)
        started = time.monotonic()
        value = self.holder.value() if self.holder else ""
        while not self._stop.wait(interval):
            if time.monotonic() - started > self.lock.max_hold_seconds:
                logger.error("lock %s held %.0fs, past its maximum of %.0fs: no longer "
                             "renewed (it expires in %.0fs)", self.key,
                             time.monotonic() - started, self.lock.max_hold_seconds,
                             self.lock.ttl_seconds)
                return
            try:
                renewed = client.eval(_RENEW, 1, self.key, value, ttl_ms)
            except Exception as exc:  # Redis away: try again; it may still hold
                logger.warning("lock %s: renewal failed, retrying: %s", self.key, exc)
                continue
            if not renewed:
                now = client.get(self.key)
                other = Holder.parse(now)
                logger.error("lock %s lost: %s", self.key,
                             f"now held by {other.describe()}" if other else "it expired")
                self.lost.set()
                return

    def _start_renewal(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, daemon=True,
                                        name=f"lock-renew:{self.lock.name}")
        self._thread.start()

    def _stop_renewal(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def lock_key(lock: Lock, scope: str | None = None) -> str:
    """The Redis key of ``lock`` (of ``scope``)."""
    return key("lock", lock.name, scope) if scope else key("lock", lock.name)


def lock_holder(lock: Lock, *, scope: str | None = None) -> tuple[Holder | None, float | None]:
    """Who holds ``lock`` now and the seconds left before it expires
    unrenewed; (None, None) when free."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.get(lock_key(lock, scope))
    pipe.pttl(lock_key(lock, scope))
    raw, pttl = pipe.execute()
    holder = Holder.parse(raw)
    return holder, (pttl / 1000 if holder is not None and pttl and pttl > 0 else None)


@contextmanager
def redis_lock(lock: Lock, *, scope: str | None = None, wait: float = 0.0,
               force: bool = False) -> Iterator[HeldLock]:
    """Yields a ``HeldLock``, true when this caller holds ``lock`` (of
    ``scope``, e.g. one channel's, when given), false when another does.

    ``wait``: seconds to keep trying while another holds it. ``force``:
    take it over from whoever holds it (their renewals then fail); the
    displaced holder is in ``taken_over``."""
    if LOCKS.get(lock.name) is not lock:
        raise ValueError(f"lock {lock.name!r} is not in arbsite.locks.LOCKS")
    client = redis_client()
    held = HeldLock(lock, lock_key(lock, scope))
    ttl_ms = int(lock.ttl_seconds * 1000)
    mine = Holder(host=socket.gethostname(), pid=os.getpid(), process=_process_name(),
                  started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                  fence=int(client.incr(key("lock-fence", lock.name))),
                  token=uuid.uuid4().hex)
    value = mine.value()
    deadline = time.monotonic() + wait
    while True:
        if client.set(held.key, value, nx=True, px=ttl_ms):
            held.acquired = True
            break
        if force:
            held.taken_over = Holder.parse(client.eval(_TAKE_OVER, 1, held.key, value, ttl_ms))
            held.acquired = True
            logger.warning("lock %s taken over by force by %s from %s", held.key,
                           mine.describe(), held.taken_over.describe() if held.taken_over
                           else "nobody (it had just been released)")
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.25, max(deadline - time.monotonic(), 0)))
    if held.acquired:
        held.holder = mine
        held._start_renewal()
    else:
        held.holder, held.ttl_left_s = lock_holder(lock, scope=scope)
    try:
        yield held
    finally:
        if held.acquired:
            held._stop_renewal()
            try:
                client.eval(_RELEASE, 1, held.key, value)
            except Exception:
                logger.exception("lock %s: release failed; it expires in %.0fs", held.key,
                                 lock.ttl_seconds)
