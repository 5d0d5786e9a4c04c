"""Coalesced detection: a burst of changed books costs one detection run.

Two Redis keys. ``detect:pending`` says "a run is wanted that has not read the
books yet"; ``arbsite.locks.DETECT_OPPORTUNITIES`` is held by the run in progress (taken here
with its registered name and TTL, in the same Lua step that clears ``pending``).

* ``detection_request(enqueue=…)`` (the streamer on every stored change, the
  poller after every cycle): ``SET pending NX``; only the caller that set it
  enqueues a task. While one is pending, further requests cost one Redis call
  and enqueue nothing.
* ``detection_run(detect=…)`` (``opportunities_detect``): takes the lock and clears ``pending``
  in one step, then reads the books and runs. On release (one step again) it
  looks whether a request came during the run; if so it runs again at once,
  because that run may have read the books before the change. A task that finds
  the lock taken does nothing: the holder will see ``pending``.

So nothing is lost (a change during a run always gets a run that reads it) and
nothing piles up (at most one run in progress and one pending). ``pending``
expires after ``PENDING_TTL_MS`` in case its task is lost, so a lost message
delays detection by that much at worst.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from arbsite.locks import DETECT_OPPORTUNITIES
from arbsite.redis import key, redis_client

T = TypeVar("T")

PENDING_TTL_MS = 2000
LOCK_TTL_MS = int(DETECT_OPPORTUNITIES.ttl_seconds * 1000)

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('EXISTS', KEYS[2])
"""


def pending_key() -> str:
    return key("detect", "pending")


def _lock_key() -> str:
    return key("lock", DETECT_OPPORTUNITIES.name)


def detection_request(*, enqueue: Callable[[], Any]) -> bool:
    """Ask for a detection run; enqueues one only if none is pending already."""
    if redis_client().set(pending_key(), "1", nx=True, px=PENDING_TTL_MS):
        enqueue()
        return True
    return False


def detection_run(*, detect: Callable[[], T], max_runs: int = 20) -> list[T]:
    """Run ``detect`` under the detection lock, again while requests came during
    a run (at most ``max_runs`` in a row); nothing if another run holds the lock."""
    client = redis_client()
    token = uuid.uuid4().hex
    reports: list[T] = []
    while len(reports) < max_runs:
        if not client.eval(_ACQUIRE, 2, _lock_key(), pending_key(), token, LOCK_TTL_MS):
            break
        try:
            reports.append(detect())
        finally:
            again = client.eval(_RELEASE, 2, _lock_key(), pending_key(), token)
        if not again:
            break
    return reports
