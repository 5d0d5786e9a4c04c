"""Why a (market, buy exchange, sell exchange) gave no opportunity: the
vocabulary of detection's rejections, and their counts.

Each cycle adds its rejections to a per-minute count in Redis (one round
trip; the quiet "not crossed" state of most pairs is not written) and keeps
the last example of each reason for a day. ``rejections_recent`` reads the
last hour back for the control panel: why nothing traded.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import redis
from django.utils import timezone

from arbsite.redis import key, redis_client

logger = logging.getLogger(__name__)

# How long the last example of each reason stays readable.
LAST_EXAMPLE_TTL_SECONDS = 24 * 3600
# Per-minute counts are kept a little longer than the window the panel shows.
WINDOW_MINUTES = 60
BUCKET_TTL_SECONDS = 2 * WINDOW_MINUTES * 60


class Reason(StrEnum):
    """Why a (market, buy exchange, sell exchange) gave no opportunity."""

    BLOCKED = "blocked"  # kill switch or daily loss limit (risk_check)
    IN_FLIGHT = "in_flight"  # an opportunity of this pair is detected/executing
    NO_BOOK = "no_book"  # missing or empty book side
    STALE_BOOK = "stale_book"  # older than max_book_age_ms
    NOT_CROSSED = "not_crossed"  # no unit profitable after fees (the normal state)
    BELOW_MIN_PROFIT = "below_min_profit"  # even the uncapped optimum is below the minimum
    NO_BALANCE_DATA = "no_balance_data"  # no cached balances for an exchange
    NO_BALANCE = "insufficient_balance"  # a balance cap leaves nothing
    MAX_ORDER_VALUE = "max_order_value"  # the order value cap leaves nothing
    EXPOSURE = "exposure_cap"  # no exposure room left for the base asset
    TOO_SMALL = "too_small"  # rounds to zero, or a leg below min_order_value
    BELOW_MIN_PROFIT_AFTER_CAPS = "below_min_profit_after_caps"
    OUTBID = "outbid"  # profitable, but another pair of the market was better
    CAPITAL_BUDGET = "capital_budget"  # an exchange's capital budget refuses it (budgets.py)
    EXCHANGE_DOWN = "exchange_down"  # an exchange in exchange-down mode (budgets.py)
    BAD_BOOK = "bad_book"  # a book failed its sanity check (services/book_sanity.py)
    PROTECTED = "protected"  # the pair's direction is paused by a protection (protections.py)
    EXCHANGE_BUSY = "exchange_busy"  # an exchange admits no order now (rate limit, back-off)
    BAD_SETTING = "bad_setting"  # a stored setting of the market's asset cannot be read


# Counted in the report only: recording them would write to Redis for every
# quiet pair on every tick, and they say nothing an operator acts on.
UNRECORDED = frozenset({Reason.NOT_CROSSED})

# Which rejection a cap gives when it alone leaves nothing to trade.
CAP_REASONS = {
    "balance_quote": Reason.NO_BALANCE,
    "balance_base": Reason.NO_BALANCE,
    "max_order_value_buy": Reason.MAX_ORDER_VALUE,
    "max_order_value_sell": Reason.MAX_ORDER_VALUE,
    "exposure": Reason.EXPOSURE,
}



# What each reason means, for the control panel.
REASON_TEXT: dict[str, str] = {
    Reason.BLOCKED: "kill switch on, or the daily loss limit reached",
    Reason.IN_FLIGHT: "an opportunity of this pair is still being executed",
    Reason.NO_BOOK: "a book missing or empty",
    Reason.STALE_BOOK: "a book older than the maximum book age",
    Reason.NOT_CROSSED: "no unit profitable after both fees (the normal state)",
    Reason.BELOW_MIN_PROFIT: "even the best size earns less than the minimum profit",
    Reason.NO_BALANCE_DATA: "no balances read yet for an exchange",
    Reason.NO_BALANCE: "not enough quote on the buyer or base on the seller",
    Reason.MAX_ORDER_VALUE: "the maximum order value leaves nothing",
    Reason.EXPOSURE: "no exposure room left for the base asset",
    Reason.TOO_SMALL: "the size rounds to zero or a leg is below its minimum value",
    Reason.BELOW_MIN_PROFIT_AFTER_CAPS: "profitable, but below the minimum once capped",
    Reason.OUTBID: "profitable, but another pair of the market was better",
    Reason.CAPITAL_BUDGET: "an exchange's capital budget (value held or open orders) refuses it",
    Reason.EXCHANGE_DOWN: "an exchange is in exchange-down mode",
    Reason.BAD_BOOK: "a book refused by its sanity check (crossed, out of order, or its mid "
                     "far from the other exchanges')",
    Reason.PROTECTED: "this market and direction is paused after repeated unwinds or failures "
                      "(protected until its cooldown ends)",
    Reason.EXCHANGE_BUSY: "an exchange would not admit an order within a send's wait (its rate "
                          "limit for placing, or a back-off it asked for): not opened, since "
                          "execution would refuse it",
    Reason.BAD_SETTING: "a risk setting of the market's asset cannot be read (the example "
                        "names it): the market is skipped until it is fixed in the admin",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    market: str
    buy_exchange: str
    sell_exchange: str
    figures: dict[str, str]



def _bucket(at: datetime) -> str:
    return key("detection", "rejections", at.astimezone(UTC).strftime("%Y%m%d%H%M"))


def _sources_bucket(at: datetime) -> str:
    """Per minute: ``"<source>|<exchange>"`` → rejected decisions whose book
    of that exchange came from that source (``stream`` or ``poll``)."""
    return key("detection", "sources", at.astimezone(UTC).strftime("%Y%m%d%H%M"))


def rejections_record(*, rejections: list[Rejection], now: datetime,
                      sources: Mapping[tuple[str, str], str] | None = None) -> dict[str, int]:
    """Count this cycle's rejections (all of them, by reason, returned for
    its report) and record those an operator acts on in Redis, with, for
    each leg whose book was read, where that book came from (``sources``:
    (exchange, market) → source), in the same round trip. A Redis error is
    logged, never allowed to stop detection."""
    counts = Counter(r.reason for r in rejections)
    last: dict[Reason, Rejection] = {r.reason: r for r in rejections}
    recorded = {reason: n for reason, n in counts.items() if reason not in UNRECORDED}
    if recorded:
        examples = {reason: {"at": now.isoformat(), "market": last[reason].market,
                             "buy_exchange": last[reason].buy_exchange,
                             "sell_exchange": last[reason].sell_exchange,
                             "figures": last[reason].figures}
                    for reason in recorded}
        by_source: Counter[str] = Counter()
        for r in rejections:
            if r.reason in UNRECORDED or sources is None:
                continue
            for exchange in (r.buy_exchange, r.sell_exchange):
                source = sources.get((exchange, r.market))
                if source is not None:
                    by_source[f"{source}|{exchange}"] += 1
        _write(now, recorded, examples, by_source)
    return {str(reason): n for reason, n in sorted(counts.items())}


def rejections_by_source_recent(*, now: datetime | None = None, minutes: int = WINDOW_MINUTES
                                ) -> Counter[tuple[str, str]]:
    """(source, exchange) → book legs of rejected decisions over the last
    ``minutes`` (not counting "not crossed", the quiet state: see UNRECORDED)."""
    now = now or timezone.now()
    pipe = redis_client().pipeline(transaction=False)
    for back in range(minutes):
        pipe.hgetall(_sources_bucket(now - timedelta(minutes=back)))
    counts: Counter[tuple[str, str]] = Counter()
    for bucket in pipe.execute():
        for name, n in bucket.items():
            source, _, exchange = name.partition("|")
            counts[(source, exchange)] += int(n)
    return counts


def rejections_record_blocked(*, blocked: dict[str, str], now: datetime) -> None:
    """A cycle that did nothing because every quote asset is blocked."""
    _write(now, {Reason.BLOCKED: 1}, {Reason.BLOCKED: {"at": now.isoformat(),
                                                       "blocked": blocked}})


def _write(now: datetime, counts: dict[Reason, int], examples: dict[Reason, dict],
           by_source: Mapping[str, int] | None = None) -> None:
    bucket = _bucket(now)
    try:
        pipe = redis_client().pipeline(transaction=False)
        for reason, n in counts.items():
            pipe.hincrby(bucket, str(reason), n)
            pipe.set(key("detection", "last", str(reason)), json.dumps(examples[reason]),
                     ex=LAST_EXAMPLE_TTL_SECONDS)
        pipe.expire(bucket, BUCKET_TTL_SECONDS)
        if by_source:
            sources = _sources_bucket(now)
            for name, n in by_source.items():
                pipe.hincrby(sources, name, n)
            pipe.expire(sources, BUCKET_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("detection: could not record rejection counters: %s", exc)


@dataclass(frozen=True)
class RejectionLine:
    reason: str
    meaning: str
    count: int
    last: dict[str, Any] = field(default_factory=dict)  # the last example, if kept


@dataclass(frozen=True)
class RejectionSummary:
    """The rejections of the last ``minutes``, most frequent first."""

    minutes: int
    lines: list[RejectionLine]

    @property
    def counts(self) -> dict[str, int]:
        return {line.reason: line.count for line in self.lines}


def rejections_recent(*, now: datetime | None = None,
                      minutes: int = WINDOW_MINUTES) -> RejectionSummary:
    """Why pairs gave no opportunity over the last ``minutes`` (a selector:
    one Redis round trip)."""
    now = now or timezone.now()
    pipe = redis_client().pipeline(transaction=False)
    for back in range(minutes):
        pipe.hgetall(_bucket(now - timedelta(minutes=back)))
    reasons = [str(reason) for reason in Reason]
    for reason in reasons:
        pipe.get(key("detection", "last", reason))
    answers = pipe.execute()
    counts: Counter[str] = Counter()
    for bucket in answers[:minutes]:
        counts.update({reason: int(n) for reason, n in bucket.items()})
    examples = dict(zip(reasons, answers[minutes:], strict=True))
    lines = [RejectionLine(reason, REASON_TEXT.get(reason, reason), n,
                           json.loads(examples[reason]) if examples.get(reason) else {})
             for reason, n in counts.most_common()]
    return RejectionSummary(minutes, lines)


def rejections_per_minute(*, now: datetime | None = None,
                          minutes: int = WINDOW_MINUTES) -> list[tuple[datetime, dict[str, int]]]:
    """The recorded rejections of each of the last ``minutes`` minutes, the
    current one first, as (start of the minute, counts by reason) (one round
    trip): how long detection has refused, for the health page."""
    now = now or timezone.now()
    starts = [(now - timedelta(minutes=back)).astimezone(UTC).replace(second=0, microsecond=0)
              for back in range(minutes)]
    pipe = redis_client().pipeline(transaction=False)
    for start in starts:
        pipe.hgetall(_bucket(start))
    return [(start, {reason: int(n) for reason, n in bucket.items()})
            for start, bucket in zip(starts, pipe.execute(), strict=True)]
