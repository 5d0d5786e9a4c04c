"""A per-exchange circuit breaker whose state is shared in Redis.

closed ─(N consecutive transient/ambiguous failures)→ open
open ─(cool-down elapsed; the next caller becomes the probe)→ half_open
half_open ─(probe succeeds)→ closed,  half_open ─(probe fails)→ open

Only failures that say "the exchange is not answering" count (timeouts,
dropped connections, 5xx, malformed bodies, ambiguous places); a business
refusal or a 404 is an answer and counts as success. While open, calls fail
fast with ``CircuitOpenError`` and nothing is sent.

An authentication refusal (HTTP 401/403 on a call with credentials) opens
the breaker at once for *private* calls only (``scope = private``), with the
refusal as its reason: public calls (order books) go on, but trading,
sync and recovery stop instead of retrying into a block (Nobitex blocks an
IP for the rest of a 30-minute window after 100 failed-auth requests [doc:
nobitex/docs-api docusaurus/docs/general-notes.md, "محدودیت احراز ناموفق"]).
One private probe is let through per ``auth_cooldown`` (10 minutes by
default: at most 3 in such a window), or at once after an operator resets
the breaker, which is what to do after fixing the credentials.

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

from arbsite.formatting import moment
from arbsite.redis import key as redis_key
from arbsite.redis import redis_client
from exchanges.errors import CircuitOpenError

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# KEYS[1] hash. ARGV: op, now, threshold, cooldown, probe_timeout, error, private, auth_cooldown
_SCRIPT = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
local private = ARGV[7] == '1'
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local scope = redis.call('HGET', KEYS[1], 'scope') or 'all'
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local cooldown = tonumber(ARGV[4])
if scope == 'private' then cooldown = tonumber(ARGV[8]) end
if op == 'before' then
  if state == 'closed' then return {'allow', state} end
  if scope == 'private' and not private then return {'allow', state} end
  local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
  if state == 'open' and now - opened_at < cooldown then
    return {'deny', state}
  end
  if state == 'half_open' and now < probe_until then
    return {'deny', state}
  end
  redis.call('HSET', KEYS[1], 'state', 'half_open',
             'probe_until', tostring(now + tonumber(ARGV[5])))
  return {'probe', 'half_open'}
elseif op == 'success' then
  if scope == 'private' and not private and state ~= 'closed' then return {'ok', state} end
  if state == 'closed' and failures == 0 then return {'ok', state} end
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', '0', 'probe_until', '0',
             'scope', 'all', 'reason', '')
  return {'closed', state}
elseif op == 'failure' then
  failures = failures + 1
  redis.call('HSET', KEYS[1], 'failures', tostring(failures), 'last_error', ARGV[6],
             'last_failure_at', ARGV[2])
  if state == 'half_open' then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2], 'probe_until', '0')
    return {'opened', state}
  end
  if state == 'closed' and failures >= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2], 'probe_until', '0',
               'scope', 'all', 'reason', ARGV[6])
    return {'opened', state}
  end
  return {'counted', state}
elseif op == 'auth' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'scope', 'private', 'opened_at', ARGV[2],
             'probe_until', '0', 'reason', ARGV[6], 'last_error', ARGV[6],
             'last_failure_at', ARGV[2])
  return {'opened', state}
end
return {'error', 'unknown op'}
"""


@dataclass(frozen=True, slots=True)
class BreakerState:
    """``scope``: "all" (every call stopped) or "private" (an authentication
    refusal: calls with credentials stopped, public ones go on); ``reason``:
    why it opened, for the admin and the control panel."""

    exchange: str
    state: str
    failures: int
    opened_at: datetime | None
    last_error: str
    last_failure_at: datetime | None
    scope: str = "all"
    reason: str = ""
    probe_at: datetime | None = None  # when the next probe call is let through

    @property
    def private_stopped(self) -> bool:
        return self.state != CLOSED and self.scope == "private"


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
        auth_cooldown: float | None = None,
        clock: Callable[[], float] = time.time,
        client: Callable[[], redis.Redis] = redis_client,
        prefix: str | None = None,
    ) -> None:
        self.exchange = exchange
        self.threshold = threshold or getattr(settings, "EXCHANGE_BREAKER_THRESHOLD", 5)
        self.cooldown = cooldown or getattr(settings, "EXCHANGE_BREAKER_COOLDOWN", 30.0)
        self.probe_timeout = probe_timeout
        self.auth_cooldown = auth_cooldown or getattr(
            settings, "EXCHANGE_BREAKER_AUTH_COOLDOWN", 600.0)
        self._clock = clock
        self._client = client
        self._prefix = prefix

    @property
    def key(self) -> str:
        if self._prefix:
            return f"{self._prefix}:breaker:{self.exchange}"
        return redis_key("breaker", self.exchange)

    def _run(self, op: str, error: str = "", *, private: bool = True) -> tuple[str, str]:
        result = self._client().eval(
            _SCRIPT, 1, self.key, op, repr(self._clock()), self.threshold,
            self.cooldown, self.probe_timeout, error[:500], "1" if private else "0",
            self.auth_cooldown,
        )
        return _text(result[0]), _text(result[1])

    def before_call(self, *, private: bool = True) -> None:
        """Raise ``CircuitOpenError`` when open (for this kind of call); let one
        probe through after the cool-down."""
        verdict, _ = self._run("before", private=private)
        if verdict == "deny":
            current = self.state()
            if current.scope == "private":
                when = moment(current.probe_at, date=False) if current.probe_at else "soon"
                raise CircuitOpenError(
                    self.exchange,
                    f"private calls stopped: {current.reason or current.last_error}; fix the "
                    f"credentials and reset the breaker (next probe at {when}); not sending",
                )
            raise CircuitOpenError(
                self.exchange,
                f"circuit breaker is {current.state} after {current.failures} failures "
                f"(last: {current.last_error or 'n/a'}); not sending",
            )
        if verdict == "probe":
            logger.info("breaker: %s half-open, sending a probe call", self.exchange)

    def record_success(self, *, private: bool = True) -> None:
        verdict, previous = self._run("success", private=private)
        if verdict == "closed" and previous != CLOSED:
            logger.info("breaker: %s closed again (was %s)", self.exchange, previous)

    def record_auth_failure(self, error: str) -> None:
        """Credentials refused: stop private calls now, with ``error`` as the reason."""
        self._run("auth", error)
        logger.error("breaker: %s stopped private calls: %s (fix the credentials, then "
                     "reset the breaker)", self.exchange, error)

    def record_failure(self, error: str) -> None:
        verdict, previous = self._run("failure", error)
        if verdict == "opened":
            logger.warning(
                "breaker: %s opened (was %s) after: %s", self.exchange, previous, error
            )

    def state(self) -> BreakerState:
        raw = {_text(k): _text(v) for k, v in self._client().hgetall(self.key).items()}
        state = raw.get("state") or CLOSED
        scope = raw.get("scope") or "all"
        cooldown = self.auth_cooldown if scope == "private" else self.cooldown
        opened_at = float(raw.get("opened_at") or 0)
        if state == OPEN and self._clock() - opened_at >= cooldown:
            state = HALF_OPEN  # the next call will be the probe
        return BreakerState(
            exchange=self.exchange,
            state=state,
            failures=int(raw.get("failures") or 0),
            opened_at=_ts(raw.get("opened_at")) if state != CLOSED else None,
            last_error=raw.get("last_error", ""),
            last_failure_at=_ts(raw.get("last_failure_at")),
            scope=scope if state != CLOSED else "all",
            reason=raw.get("reason", "") if state != CLOSED else "",
            probe_at=_ts(str(opened_at + cooldown)) if state == OPEN and opened_at else None,
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
