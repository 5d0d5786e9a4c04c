"""What detection and execution read from the database for every decision,
kept in this process between changes: the fast path's caches (issue 14).

The reads kept: the tradable listings, the risk settings with today's P&L
(the blockers), the in-flight opportunities with the limits they leave, and
what was committed since each balance read. On a quiet market with streamed
books, detection runs many times a second and none of these change between
runs: each would otherwise be a query per run.

**Versions in Redis say when a kept read is out of date.** Three of them,
each a random token:

* ``config``: exchanges, markets, listings, risk settings;
* ``state``: opportunities, orders, fills (what is in flight and committed);
* ``pnl``: today's realized P&L (an opportunity closed or reopened with its P&L).

Every save or delete of those rows (``decision_cache_install``, connected at
``trading.apps``), every change of the opportunity state machine (its
conditional UPDATE, ``opportunities._transition``) and every order written
(``orders.orders_write``, a bulk insert) sets a new token once the write is
committed: at once in autocommit, else when its transaction commits. A reader
that took the old token and the rows before that commit keeps what it read
under the old token only, which no reader matches any more. A decision reads
the tokens in one round trip; a kept value whose tokens still match is used as
it is, else read again.

Only what is read outside a transaction is kept: inside one, a read may see
rows that are then rolled back. (Detection reads in autocommit; execution
reads its risk check before its claim's transaction. A test inside a
transaction reads the database every time.)

Writes that bypass ``save()`` (a queryset ``update()``) must call
``decision_cache_bump``; none of the fields detection reads is written that way
today. As a bound on any that one day is, nothing is kept longer than
``MAX_AGE_SECONDS``. A token that cannot be set is logged; the bound holds.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from django.db import transaction

from arbsite.redis import key, redis_client

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONFIG, STATE, PNL = "config", "state", "pnl"
KINDS = (CONFIG, STATE, PNL)
MAX_AGE_SECONDS = 5.0


def _version_key(kind: str) -> str:
    return key("decision-cache", kind)


@dataclass(frozen=True)
class Versions:
    config: str | None
    state: str | None
    pnl: str | None

    @property
    def complete(self) -> bool:
        return None not in (self.config, self.state, self.pnl)


@dataclass
class _Entry:
    token: Hashable
    value: Any
    at: float


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def versions_read() -> Versions:
    """The three tokens, in one round trip. A missing one (a new Redis, or
    its keys wiped) is set here, so that what is read next can be kept."""
    client = redis_client()
    values = client.mget([_version_key(kind) for kind in KINDS])
    if None in values:
        pipe = client.pipeline(transaction=False)
        for kind, value in zip(KINDS, values, strict=True):
            if value is None:
                pipe.set(_version_key(kind), uuid.uuid4().hex, nx=True)
        pipe.mget([_version_key(kind) for kind in KINDS])
        values = pipe.execute()[-1]
    return Versions(*values)


def cached(name: str, token: Hashable, build: Callable[[], T]) -> T:
    """``build()``'s value, kept under ``name`` while ``token`` is unchanged
    (and for at most ``MAX_AGE_SECONDS``). A token holding ``None`` (a version
    unreadable) is never kept."""
    if transaction.get_connection().in_atomic_block:
        return build()
    now = time.monotonic()
    entry = _entries.get(name)
    if entry is not None and entry.token == token and now - entry.at < MAX_AGE_SECONDS:
        return entry.value
    value = build()
    if not _has_none(token):
        with _lock:
            _entries[name] = _Entry(token, value, now)
    return value


def _has_none(token: Hashable) -> bool:
    if token is None:
        return True
    return isinstance(token, tuple) and any(_has_none(part) for part in token)


def decision_cache_clear() -> None:
    """Forget everything kept in this process (the next reads go to the database)."""
    with _lock:
        _entries.clear()


_local = threading.local()


def decision_cache_bump(*kinds: str) -> None:
    """These versions changed: a new token once the write is committed (at
    once in autocommit; see the module docstring). The bumps of one
    transaction go out in one round trip after its commit."""
    deferred = getattr(_local, "deferred", None)
    if deferred is not None:
        deferred.update(kinds)
        return
    if not transaction.get_connection().in_atomic_block:
        _bump(kinds)
        return
    pending = getattr(_local, "pending", None)
    if pending is None:
        pending = _local.pending = set()
    pending.update(kinds)
    transaction.on_commit(_bump_pending)


def decision_cache_bump_committed(*kinds: str) -> None:
    """These versions changed and the write is committed: a new token now."""
    _bump(kinds)


def _bump_pending() -> None:
    pending = getattr(_local, "pending", None)
    if pending:
        kinds = tuple(sorted(pending))
        pending.clear()
        _bump(kinds)


@contextmanager
def decision_cache_deferred() -> Iterator[set[str]]:
    """Collect the bumps of the writes inside instead of making them: the
    caller bumps them (``decision_cache_bump(*kinds)``) once committed, with
    the rest of its after-commit work (detection: before enqueueing the
    execution of the row it wrote)."""
    kinds: set[str] = set()
    previous = getattr(_local, "deferred", None)
    _local.deferred = kinds
    try:
        yield kinds
    finally:
        _local.deferred = previous
        if previous is not None:
            previous.update(kinds)


def _bump(kinds: tuple[str, ...]) -> None:
    if not kinds:
        return
    try:
        redis_client().mset({_version_key(kind): uuid.uuid4().hex for kind in kinds})
    except redis.RedisError as exc:
        # The kept reads go stale for at most MAX_AGE_SECONDS; say so.
        logger.warning("decision cache: could not bump %s (%s); kept reads may be up to "
                       "%.0f s old", ",".join(kinds), exc, MAX_AGE_SECONDS)


# -- what changes which version ----------------------------------------------------------


def _config_changed(sender, **kwargs) -> None:
    decision_cache_bump(CONFIG)


def _state_changed(sender, instance=None, **kwargs) -> None:
    """An order or a fill, or an opportunity (with today's P&L when it has one)."""
    if getattr(instance, "realized_pnl", None) is not None:
        decision_cache_bump(STATE, PNL)
    else:
        decision_cache_bump(STATE)


def _opportunity_deleted(sender, **kwargs) -> None:
    decision_cache_bump(STATE, PNL)


def decision_cache_install() -> None:
    """Connect the rows' saves and deletes to their versions (``trading.apps``)."""
    from django.db.models.signals import post_delete, post_save

    from exchanges.models import Exchange, ExchangeMarket, Market
    from trading.models import Opportunity, Order, PairProtection, RiskSettings, Trade

    for model in (Exchange, Market, ExchangeMarket, RiskSettings, PairProtection):
        uid = f"trading.decision_cache.config.{model.__name__}"
        post_save.connect(_config_changed, sender=model, dispatch_uid=uid)
        post_delete.connect(_config_changed, sender=model, dispatch_uid=uid)
    for model in (Opportunity, Order, Trade):
        uid = f"trading.decision_cache.state.{model.__name__}"
        post_save.connect(_state_changed, sender=model, dispatch_uid=uid)
        post_delete.connect(_opportunity_deleted if model is Opportunity else _state_changed,
                            sender=model, dispatch_uid=uid)

