"""A per-exchange circuit breaker whose state is shared in Redis.

closed ─(N consecutive transient/ambiguous failures)→ open
open ─(cool-down elapsed; the next caller becomes the probe)→ half_open
half_open ─(probe succeeds)→ closed,  half_open ─(probe fails)→ open

Only failures that say "the exchange is not answering" count (timeouts,
dropped connections, 5xx, malformed bodies, ambiguous places); a business
refusal or a 404 is an answer and counts as success. While open, calls fail
fast with ``CircuitOpenError`` and nothing is sent.

The state lives in one Redis hash per exchange so every worker sees it, the
admin shows it (``breaker_state``) and an operator can reset it
(``breaker_reset``). Transitions are Lua scripts, atomic across processes.
The clock is injectable (tests) and is the callers' wall clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings

from arbsite.redis import key as redis_key
from arbsite.redis import redis_client
from exchanges.errors import CircuitOpenError

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# KEYS[1] hash. ARGV: op, now, threshold, cooldown, probe_timeout, error
_SCRIPT = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if op == 'before' then
  if state == 'closed' then return {'allow', state} end
  local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
  if state == 'open' and now - opened_at < tonumber(ARGV[4]) then
    return {'deny', state}
  end
  if state == 'half_open' and now < probe_until then
    return {'deny', state}
  end
  redis.call('HSET', KEYS[1], 'state', 'half_open',
             'probe_until', tostring(now + tonumber(ARGV[5])))
  return {'probe', 'half_open'}
elseif op == 'success' then
  if state == 'closed' and failures == 0 then return {'ok', state} end
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', '0', 'probe_until', '0')
  return {'closed', state}
elseif op == 'failure' then
  failures = failures + 1
  redis.call('HSET', KEYS[1], 'failures', tostring(failures), 'last_error', ARGV[6],
             'last_failure_at', ARGV[2])
  if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[3])) then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2], 'probe_until', '0')
    return {'opened', state}
  end
  return {'counted', state}
end
return {'error', 'unknown op'}
"""


@dataclass(frozen=True, slots=True)
class BreakerState:
    exchange: str
    state: str
    failures: int
    opened_at: datetime | None
    last_error: str
    last_failure_at: datetime | None


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""


def _ts(value: str | bytes | None) -> datetime | None:
    if not value or float(value) <= 0:
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)


class CircuitBreaker:
    def __init__(
        self,
        exchange: str,
        *,
        threshold: int | None = None,
        cooldown: float | None = None,
        probe_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        client: Callable[[], redis.Redis] = redis_client,
        prefix: str | None = None,
    ) -> None:
        self.exchange = exchange
        self.threshold = threshold or getattr(settings, "EXCHANGE_BREAKER_THRESHOLD", 5)
        self.cooldown = cooldown or getattr(settings, "EXCHANGE_BREAKER_COOLDOWN", 30.0)
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._client = client
        self._prefix = prefix

    @property
    def key(self) -> str:
        if self._prefix:
            return f"{self._prefix}:breaker:{self.exchange}"
        return redis_key("breaker", self.exchange)

    def _run(self, op: str, error: str = "") -> tuple[str, str]:
        result = self._client().eval(
            _SCRIPT, 1, self.key, op, repr(self._clock()), self.threshold,
            self.cooldown, self.probe_timeout, error[:500],
        )
        return _text(result[0]), _text(result[1])

    def before_call(self) -> None:
        """Raise ``CircuitOpenError`` when open; let one probe through after the cool-down."""
        verdict, _ = self._run("before")
        if verdict == "deny":
            current = self.state()
            raise CircuitOpenError(
                self.exchange,
                f"circuit breaker is {current.state} after {current.failures} failures "
                f"(last: {current.last_error or 'n/a'}); not sending",
            )
        if verdict == "probe":
            logger.info("breaker: %s half-open, sending a probe call", self.exchange)

    def record_success(self) -> None:
        verdict, previous = self._run("success")
        if verdict == "closed" and previous != CLOSED:
            logger.info("breaker: %s closed again (was %s)", self.exchange, previous)

    def record_failure(self, error: str) -> None:
        verdict, previous = self._run("failure", error)
        if verdict == "opened":
            logger.warning(
                "breaker: %s opened (was %s) after: %s", self.exchange, previous, error
            )

    def state(self) -> BreakerState:
        raw = {_text(k): _text(v) for k, v in self._client().hgetall(self.key).items()}
        state = raw.get("state") or CLOSED
        if state == OPEN and self._clock() - float(raw.get("opened_at") or 0) >= self.cooldown:
            state = HALF_OPEN  # the next call will be the probe
        return BreakerState(
            exchange=self.exchange,
            state=state,
            failures=int(raw.get("failures") or 0),
            opened_at=_ts(raw.get("opened_at")) if state != CLOSED else None,
            last_error=raw.get("last_error", ""),
            last_failure_at=_ts(raw.get("last_failure_at")),
        )

    def reset(self) -> None:
        self._client().delete(self.key)
        logger.info("breaker: %s reset", self.exchange)


def breaker_state(exchange: str) -> BreakerState:
    """The shared breaker state of one exchange (by its name), for the admin."""
    return CircuitBreaker(exchange).state()


def breaker_reset(exchange: str) -> None:
    """Close one exchange's breaker and forget its failures (admin action)."""
    CircuitBreaker(exchange).reset()
