"""One beat at a time: django-celery-beat's scheduler behind a Redis lease.

Two beats double every schedule (two polls a second per exchange, two
syncs...), which draws 429s from the exchanges. Beat cannot coordinate
that by itself, so ``LeasedDatabaseScheduler`` (``CELERY_BEAT_SCHEDULER``)
takes a lease in Redis before it schedules anything:

- at start, ``SET lease <holder> NX PX ttl``; if another beat holds it,
  this one logs who holds it and exits (status 1) before scheduling;
- on every tick it renews the lease (a compare-and-set in Lua), and never
  sleeps longer than a third of the TTL between renewals; a lease found
  gone (Redis restarted empty) is taken again;
- a lease found held by another beat means this one stalled past the TTL
  and was replaced: it stops scheduling and exits;
- on shutdown it releases the lease, so a restart does not wait out the TTL.
A beat killed with SIGKILL leaves the lease to expire: a new beat can start
``BEAT_LEASE_SECONDS`` later at most. Every refusal is kept in Redis for the
control panel (``beat_lease_status``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from arbsite.redis import key, redis_client

logger = logging.getLogger(__name__)

REFUSED_TTL = 24 * 3600

# KEYS[1] lease; ARGV token, holder json, ttl ms. 1: renewed or taken again
# (it was gone); 0: another holder has it.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if cjson.decode(current)['token'] == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['token'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _lease_key() -> str:
    return key("beat", "lease")


def _refused_key() -> str:
    return key("beat", "refused")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _describe(holder: dict) -> str:
    return (f"{holder.get('host', '?')} pid {holder.get('pid', '?')} "
            f"(since {holder.get('since', '?')})")


class BeatLeaseHeld(SystemExit):
    """Another beat holds the lease: this one must not schedule."""


@dataclass
class BeatLease:
    token: str
    holder: dict
    ttl_seconds: float
    renewed_at: float = 0.0

    @classmethod
    def new(cls) -> BeatLease:
        token = uuid.uuid4().hex
        holder = {"token": token, "host": socket.gethostname(), "pid": os.getpid(),
                  "since": _now()}
        return cls(token=token, holder=holder, ttl_seconds=float(settings.BEAT_LEASE_SECONDS))

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl_seconds * 1000)

    def acquire(self) -> None:
        """Take the lease, or raise BeatLeaseHeld naming the beat that has it."""
        client = redis_client()
        if client.set(_lease_key(), json.dumps(self.holder), nx=True, px=self._ttl_ms):
            self.renewed_at = time.monotonic()
            logger.info("beat lease taken by %s", _describe(self.holder))
            return
        raw = client.get(_lease_key())
        other = json.loads(raw) if raw else {}
        wait = max(client.pttl(_lease_key()), 0) / 1000
        client.set(_refused_key(), json.dumps({**self.holder, "at": _now(),
                                               "held_by": _describe(other)}), ex=REFUSED_TTL)
        message = (f"Another beat is running: {_describe(other)}. Refusing to start a second "
                   "one (it would run every periodic task twice). If that beat is dead, its "
                   f"lease expires within {wait:.0f}s; start this one again then.")
        logger.critical(message)
        raise BeatLeaseHeld(message)

    def renew(self) -> None:
        """Keep the lease; raise BeatLeaseHeld if another beat took it over."""
        try:
            kept = redis_client().eval(_RENEW, 1, _lease_key(), self.token,
                                       json.dumps(self.holder), self._ttl_ms)
        except redis.RedisError as exc:  # Redis down: beat cannot send tasks either
            logger.warning("beat lease not renewed (Redis: %s); retrying", exc)
            return
        if not kept:
            message = ("This beat's lease was taken over by another beat (this one stalled "
                       f"longer than {self.ttl_seconds:.0f}s): stopping this one.")
            logger.critical(message)
            raise BeatLeaseHeld(message)
        self.renewed_at = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.renewed_at >= self.ttl_seconds / 3

    def release(self) -> None:
        try:
            redis_client().eval(_RELEASE, 1, _lease_key(), self.token)
        except redis.RedisError as exc:
            logger.warning("beat lease not released (Redis: %s); it expires by itself", exc)


class LeasedDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, only while it holds the beat lease."""

    def __init__(self, *args, lazy: bool = False, **kwargs):
        # Beat also builds a lazy instance, only to print its start-up banner.
        self.lease = None if lazy else BeatLease.new()
        if self.lease is not None:
            self.lease.acquire()  # before anything is read or scheduled
        try:
            super().__init__(*args, lazy=lazy, **kwargs)
        except BaseException:
            if self.lease is not None:
                self.lease.release()
            raise

    _closing = False

    def tick(self, *args, **kwargs) -> float:
        if self.lease is not None and self.lease.due():
            self.lease.renew()
        try:
            interval = super().tick(*args, **kwargs)
        except Exception:
            # Celery's SIGTERM/SIGINT handler closes the scheduler and raises
            # SystemExit wherever the main thread is, often inside a schedule
            # query, whose clean-up then fails on the closed database: that is
            # the stop asked for, not a crash of beat.
            if self._closing:
                raise SystemExit() from None
            raise
        return interval if self.lease is None else min(interval, self.lease.ttl_seconds / 3)

    def close(self) -> None:
        self._closing = True
        try:
            super().close()
        finally:
            if self.lease is not None:
                self.lease.release()


def beat_lease_status() -> dict[str, str]:
    """For the control panel: which beat holds the lease, and the last refused one."""
    client = redis_client()
    raw, refused = client.get(_lease_key()), client.get(_refused_key())
    status: dict[str, str] = {}
    if raw:
        status["holder"] = _describe(json.loads(raw))
    if refused:
        data = json.loads(refused)
        status["refused"] = (f"a second beat ({data.get('host')} pid {data.get('pid')}) was "
                             f"refused at {data.get('at')}; {data.get('held_by')} held the lease")
    return status
