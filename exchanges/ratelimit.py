"""A per-exchange rate limiter shared by every process, in Redis.

A sliding window per (exchange, endpoint class): one sorted set of call
timestamps, trimmed and counted by a Lua script so that check-and-record is
atomic across processes. The script uses the Redis server's clock, so workers
on several machines agree on the window even if their clocks drift.

A 429 from the exchange records its back-off under the exchange's key and
every process waits it out (Nobitex blocks a token for 2 minutes when limits
are ignored, so honouring ``backOff`` matters more than throughput).

When a call would exceed the limit the caller waits, up to ``max_wait``
seconds; beyond that it gets a ``RateLimitedError`` with the time to wait.

The back-off in force is visible (``backoff_state``: how long, why, since
when) for the admin and the control panel. A 429 without a back-off value
(no ``backOff`` in the body, no ``Retry-After`` header: Wallex and Invex
document none) is waited out for ``DEFAULT_BACKOFF_S``.

``LocalRateLimiter`` is the budget of a probe (the ``exchange`` command,
``recover_orders --dry-run``): in-process, a fraction of the documented
limits, so a probe neither spends the shared budget trading needs nor
records a back-off trading would then wait out, yet still keeps to the
exchange's limits and to a back-off the exchange asked of trading.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from arbsite.redis import key as redis_key
from arbsite.redis import redis_client
from exchanges.errors import RateLimitedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    calls: int
    period: float  # seconds


@dataclass(frozen=True, slots=True)
class BackoffState:
    exchange: str
    remaining: float  # seconds; 0 when no back-off is in force
    reason: str = ""
    since: datetime | None = None

    @property
    def active(self) -> bool:
        return self.remaining > 0


def _backoff_from(exchange: str, raw: str | None, ms: int | None) -> BackoffState:
    remaining = ms / 1000 if ms and ms > 0 else 0.0
    if not remaining or not raw:
        return BackoffState(exchange, 0.0)
    try:
        data = json.loads(raw)
        reason = str(data.get("reason") or "")
        since = datetime.fromtimestamp(float(data["since"]), tz=UTC) if data.get("since") else None
    except (ValueError, TypeError, AttributeError, KeyError):
        reason, since = "", None  # a back-off written by an older version: "1"
    return BackoffState(exchange, remaining, reason, since)


# Endpoint classes every adapter tags its calls with.
BOOK, PLACE, STATUS, OPEN_ORDERS, CANCEL, BALANCES, FILLS = (
    "book", "place", "status", "open_orders", "cancel", "balances", "fills",
)

# Nobitex's documented limits [doc]; Wallex documents only placing, 20
# requests per 10 s [doc: spot-create-order], kept at 18 for a window that
# starts at another moment than the exchange's. The rest of Wallex and all of
# Invex publish no numbers ("strict" for Invex) [?]: conservative guesses,
# overridable with settings.EXCHANGE_RATE_LIMITS = {"wallex": {"book": (60, 60)}, …}.
DEFAULT_LIMITS: dict[str, dict[str, Limit]] = {
    "nobitex": {
        BOOK: Limit(300, 60),
        PLACE: Limit(300, 600),
        STATUS: Limit(300, 60),
        OPEN_ORDERS: Limit(30, 60),
        CANCEL: Limit(90, 60),
        BALANCES: Limit(20, 120),
        FILLS: Limit(30, 60),
    },
    "wallex": {
        BOOK: Limit(120, 60),
        PLACE: Limit(18, 10),
        STATUS: Limit(120, 60),
        OPEN_ORDERS: Limit(30, 60),
        CANCEL: Limit(60, 60),
        BALANCES: Limit(20, 60),
        FILLS: Limit(30, 60),
    },
    "invex": {
        BOOK: Limit(60, 60),
        PLACE: Limit(30, 60),
        STATUS: Limit(60, 60),
        OPEN_ORDERS: Limit(20, 60),
        CANCEL: Limit(30, 60),
        BALANCES: Limit(20, 60),
        FILLS: Limit(20, 60),
    },
}
FALLBACK_LIMIT = Limit(30, 60)
# Seconds to wait after a 429 that names no back-off. Nobitex blocks a token
# for 2 minutes when limits are ignored [doc: nobitex/docs-api
# docusaurus/docs/general-notes.md, "محدودیت فراخوانی"]; a minute of silence
# is the conservative reading for the exchanges that say nothing.
DEFAULT_BACKOFF_S = 60.0
# A probe's share of each documented limit.
PROBE_SHARE = 0.2

# KEYS[1] window zset, KEYS[2] back-off key. ARGV: limit, period_ms, member.
# Returns 0 when the call is admitted, else the milliseconds to wait.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local backoff = redis.call('PTTL', KEYS[2])
if backoff > 0 then return backoff end
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + period - now
if wait < 1 then wait = 1 end
return wait
"""


# The same, read only: the milliseconds before one call would be admitted
# (0: now), nothing recorded.
_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local backoff = redis.call('PTTL', KEYS[2])
if backoff > 0 then return backoff end
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < limit then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + period - now
if wait < 1 then wait = 1 end
return wait
"""


def limits_for(exchange_kind: str) -> dict[str, Limit]:
    from django.conf import settings

    limits = dict(DEFAULT_LIMITS.get(exchange_kind, {}))
    overrides: Mapping[str, Mapping[str, tuple[int, float]]] = getattr(
        settings, "EXCHANGE_RATE_LIMITS", {}
    )
    for endpoint, (calls, period) in overrides.get(exchange_kind, {}).items():
        limits[endpoint] = Limit(int(calls), float(period))
    return limits


class RateLimiter:
    """Admits calls to one exchange within its limits, across processes."""

    def __init__(
        self,
        exchange: str,
        limits: Mapping[str, Limit],
        *,
        max_wait: float = 2.0,
        client: Callable[[], redis.Redis] = redis_client,
        prefix: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange = exchange
        self.limits = dict(limits)
        self.max_wait = max_wait
        self._client = client
        self._prefix = prefix
        self._sleep = sleep
        self._script: redis.commands.core.Script | None = None

    def _key(self, *parts: str) -> str:
        if self._prefix:
            return ":".join([self._prefix, *parts])
        return redis_key(*parts)

    def _backoff_key(self) -> str:
        return self._key("backoff", self.exchange)

    def acquire(self, endpoint: str, *, max_wait: float | None = None) -> None:
        """Record one call of ``endpoint``, waiting for a slot up to ``max_wait`` s."""
        limit = self.limits.get(endpoint, FALLBACK_LIMIT)
        budget = self.max_wait if max_wait is None else max_wait
        deadline = time.monotonic() + budget
        client = self._client()
        if self._script is None:
            self._script = client.register_script(_ACQUIRE)
        while True:
            wait_ms = int(
                self._script(
                    keys=[self._key("rl", self.exchange, endpoint), self._backoff_key()],
                    args=[limit.calls, int(limit.period * 1000), uuid.uuid4().hex],
                    client=client,
                )
            )
            if wait_ms <= 0:
                return
            wait = wait_ms / 1000
            if time.monotonic() + wait > deadline:
                logger.info(
                    "rate limit: %s %s needs %.2fs, more than the %.2fs allowed",
                    self.exchange, endpoint, wait, budget,
                )
                raise RateLimitedError(
                    self.exchange,
                    f"local rate limit for {endpoint} "
                    f"({limit.calls} per {limit.period:g}s) or exchange back-off in force",
                    retry_after=wait,
                    code="LocalRateLimit",
                )
            self._sleep(wait)

    def wait_needed(self, endpoint: str) -> float:
        """Seconds before one call of ``endpoint`` would be admitted (0: now),
        the back-off in force included; records nothing. Execution asks it of
        both legs before sending either, so that a leg never goes alone while
        the other waits for a slot."""
        limit = self.limits.get(endpoint, FALLBACK_LIMIT)
        client = self._client()
        ms = int(client.register_script(_PEEK)(
            keys=[self._key("rl", self.exchange, endpoint), self._backoff_key()],
            args=[limit.calls, int(limit.period * 1000)], client=client))
        return max(ms, 0) / 1000

    def record_backoff(self, seconds: float, reason: str = "") -> None:
        """The exchange said 429: every process waits ``seconds`` before the next call."""
        ms = max(int(seconds * 1000), 1)
        client = self._client()
        # Keep the longer of an existing and the new back-off.
        current = client.pttl(self._backoff_key())
        if current is None or current < ms:
            value = json.dumps({"reason": reason[:300], "seconds": seconds,
                                "since": time.time()})
            client.set(self._backoff_key(), value, px=ms)
        logger.warning("rate limit: %s asked to back off for %.1fs%s", self.exchange, seconds,
                       f" ({reason})" if reason else "")

    def backoff_remaining(self) -> float:
        ms = self._client().pttl(self._backoff_key())
        return max(ms, 0) / 1000 if ms and ms > 0 else 0.0

    def backoff(self) -> BackoffState:
        """The back-off in force now, with its reason (``remaining`` 0: none)."""
        client = self._client()
        raw, ms = client.get(self._backoff_key()), client.pttl(self._backoff_key())
        return _backoff_from(self.exchange, raw, ms)

    def reset(self) -> None:
        client = self._client()
        keys = list(client.scan_iter(match=self._key("rl", self.exchange, "*")))
        keys.append(self._backoff_key())
        client.delete(*keys)


def backoff_state(exchange: str) -> BackoffState:
    """The shared back-off of one exchange (by its name), for the admin."""
    return RateLimiter(exchange, {}).backoff()


class LocalRateLimiter:
    """A probe's own, conservative budget: in this process only.

    Each limit is ``share`` of the documented one (at least one call per
    period). The shared back-off the exchange asked of everyone is read and
    honoured; a 429 the probe itself meets is kept here, never written to
    the shared state.
    """

    def __init__(
        self,
        exchange: str,
        limits: Mapping[str, Limit],
        *,
        share: float = PROBE_SHARE,
        max_wait: float = 2.0,
        shared: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange = exchange
        self.limits = {name: Limit(max(1, math.floor(limit.calls * share)), limit.period)
                       for name, limit in limits.items()}
        self.fallback = Limit(max(1, math.floor(FALLBACK_LIMIT.calls * share)),
                              FALLBACK_LIMIT.period)
        self.max_wait = max_wait
        self._shared = shared
        self._sleep = sleep
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}
        self._backoff_until = 0.0
        self._backoff_reason = ""

    def _wait_needed(self, endpoint: str) -> float:
        now = time.monotonic()
        if self._backoff_until > now:
            return self._backoff_until - now
        if self._shared is not None:
            try:
                shared = self._shared.backoff_remaining()
            except Exception:  # Redis down: the probe must still work
                logger.warning("probe %s: shared back-off unreadable", self.exchange,
                               exc_info=True)
                shared = 0.0
            if shared > 0:
                return shared
        limit = self.limits.get(endpoint, self.fallback)
        calls = self._calls.setdefault(endpoint, deque())
        while calls and calls[0] <= now - limit.period:
            calls.popleft()
        if len(calls) < limit.calls:
            calls.append(now)
            return 0.0
        return max(calls[0] + limit.period - now, 0.001)

    def acquire(self, endpoint: str, *, max_wait: float | None = None) -> None:
        budget = self.max_wait if max_wait is None else max_wait
        deadline = time.monotonic() + budget
        while True:
            with self._lock:
                wait = self._wait_needed(endpoint)
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise RateLimitedError(
                    self.exchange,
                    f"probe's own rate limit for {endpoint} or the exchange's back-off in force",
                    retry_after=wait, code="LocalRateLimit",
                )
            self._sleep(wait)

    def record_backoff(self, seconds: float, reason: str = "") -> None:
        with self._lock:
            self._backoff_until = max(self._backoff_until, time.monotonic() + seconds)
            self._backoff_reason = reason
        logger.warning("probe %s asked to back off for %.1fs%s", self.exchange, seconds,
                       f" ({reason})" if reason else "")

    def backoff_remaining(self) -> float:
        return max(self._backoff_until - time.monotonic(), 0.0)

    def backoff(self) -> BackoffState:
        remaining = self.backoff_remaining()
        return BackoffState(self.exchange, remaining, self._backoff_reason if remaining else "")
