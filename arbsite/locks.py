"""The Redis locks, named in one registry with their TTLs (Saleor's
``core/db/locks.py`` habit), for work that must not overlap across
processes and hosts.

``SET key token NX PX ttl`` to take one; released only by its owner (a Lua
compare-and-delete), and it expires by itself if the owner dies, so a
SIGKILLed worker never leaves the system locked for longer than its TTL.
A caller that finds a lock taken does nothing (the next run comes soon).
Each is taken inside the service it protects, whichever face calls it
(task, command, start-up), never by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from arbsite.redis import key, redis_client


@dataclass(frozen=True)
class Lock:
    name: str
    ttl_seconds: float
    why: str


POLL_ORDERBOOKS = Lock(
    "poll-orderbooks", 5.0,
    "one book poll at a time (trading.services.polling); beat runs it every second",
)
DETECT_OPPORTUNITIES = Lock(
    "detect-opportunities", 10.0,
    "one detection cycle at a time (trading.services.detection): two overlapping cycles "
    "could each plan on the same balances",
)
SYNC_ORDERS = Lock(
    "sync-orders", 60.0,
    "one periodic order sync at a time (trading.services.sync)",
)
RECOVER_ORDERS = Lock(
    "recover-orders", 600.0,
    "one recovery at a time (trading.services.recovery), from recover_orders, a worker's "
    "start-up or the control panel; long, as it waits out rate limits",
)

CHECK_ALERTS = Lock(
    "check-alerts", 60.0,
    "one run of the periodic alert checks at a time (trading.alerts.checks)",
)
CHECK_LEDGER = Lock(
    "check-ledger", 300.0,
    "one ledger reconciliation at a time (trading.services.ledger); it waits out rate limits",
)
DELIVER_ALERT_CHANNEL = Lock(
    "alert-channel", 120.0,
    "one delivery sweep per alert channel at a time (trading.alerts.delivery; scoped by "
    "channel id); its TTL is a delivery's claim",
)

LOCKS: dict[str, Lock] = {lock.name: lock for lock in (
    POLL_ORDERBOOKS, DETECT_OPPORTUNITIES, SYNC_ORDERS, RECOVER_ORDERS, CHECK_ALERTS,
    CHECK_LEDGER, DELIVER_ALERT_CHANNEL)}

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@contextmanager
def redis_lock(lock: Lock, *, scope: str | None = None) -> Iterator[bool]:
    """Yields True when this caller holds ``lock`` (of ``scope``, e.g. one
    channel's, when given), False when another does."""
    if LOCKS.get(lock.name) is not lock:
        raise ValueError(f"lock {lock.name!r} is not in arbsite.locks.LOCKS")
    client = redis_client()
    lock_key = key("lock", lock.name, scope) if scope else key("lock", lock.name)
    token = uuid.uuid4().hex
    acquired = bool(client.set(lock_key, token, nx=True, px=int(lock.ttl_seconds * 1000)))
    try:
        yield acquired
    finally:
        if acquired:
            client.eval(_RELEASE, 1, lock_key, token)
