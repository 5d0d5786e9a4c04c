"""A Redis lock for work that must not overlap across processes and hosts.

``SET key token NX PX ttl`` to take it; released only by its owner (a Lua
compare-and-delete), and it expires by itself if the owner dies, so a
SIGKILLed worker never leaves the system locked for longer than ``ttl``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from arbsite.redis import key, redis_client

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@contextmanager
def redis_lock(name: str, *, ttl_seconds: float) -> Iterator[bool]:
    """Yields True when this caller holds the lock, False when another does."""
    client = redis_client()
    lock_key = key("lock", name)
    token = uuid.uuid4().hex
    acquired = bool(client.set(lock_key, token, nx=True, px=int(ttl_seconds * 1000)))
    try:
        yield acquired
    finally:
        if acquired:
            client.eval(_RELEASE, 1, lock_key, token)


def lock_holder(name: str) -> str | None:
    return redis_client().get(key("lock", name))
