"""Trading's selectors for its faces: is the system able to trade, and what
does the operator need to see?

They read, never write: ``system_health`` answers ``/healthz``
(``trading.views``) and heads the control panel, its problems built by
``trading.problems.health_problems`` (the one list behind the banner, the
"needs attention" box and ``/healthz``); ``control_panel`` adds
orders, today's P&L against its limits, the latest opportunities, why
nothing traded (detection's rejections of the last hour), each exchange's
cached balances and what is paused. Nothing here carries a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.breaker import CLOSED, breaker_state
from exchanges.conformance.gate import ConformanceState, conformance_required, conformance_state
from exchanges.models import Exchange, ExchangeMarket, Market
from exchanges.ratelimit import backoff_state
from exchanges.states import LIVE_STATES, OrderState
from trading.detection.rejections import RejectionSummary, rejections_recent
from trading.models import Opportunity, Order, PairProtection, RiskSettings, Trade
from trading.pnl import QUOTE_ASSETS
from trading.problems import CRITICAL, Problem, health_problems, off_since
from trading.services.balances import balances_latest
from trading.services.book_sanity import BookRejectionLine, book_rejections_read
from trading.services.books import CachedBook, books_latest
from trading.services.heartbeat import heartbeat_last
from trading.services.risk import (
    daily_loss_limit,
    daily_unwind_loss_limit,
    realized_pnl_today,
    unwind_losses_today,
)

logger = logging.getLogger(__name__)

# A book is a problem once it is older than the maximum age detection trades
# on (RiskSettings.max_book_age_ms) by this much: one late poll is not.
BOOK_STALE_GRACE_SECONDS = 10.0
# An exchange's last error is shown this long after it happened, then
# dropped: an old 429 never stands in for what the exchange answers now.
ERROR_SHOWN_SECONDS = 900.0


@dataclass
class ExchangeHealth:
    pk: int
    name: str
    enabled: bool
    trading_enabled: bool
    last_ok_at: datetime | None = None
    book_age_seconds: float | None = None
    # The latest error from any source (book fetch, breaker, back-off) no
    # older than ERROR_SHOWN_SECONDS, with its time and where it was seen.
    last_error: str = ""
    last_error_at: datetime | None = None
    last_error_source: str = ""
    breaker: str = "unknown"
    breaker_failures: int = 0
    breaker_error: str = ""
    breaker_opened_at: datetime | None = None
    breaker_scope: str = "all"
    backoff_seconds: float = 0.0
    backoff_since: datetime | None = None
    backoff_reason: str = ""
    problems: list[str] = field(default_factory=list)
    conformance: ConformanceState | None = None  # exchanges.conformance.gate
    listings: int = 0  # enabled listings of enabled markets
    book_max_age: float = 3.0  # seconds: detection's maximum book age
    stale_books: list[tuple[str, float | None]] = field(default_factory=list)
    books_stale_since: datetime | None = None
    off_since: datetime | None = None  # paused or disabled since (its history)

    @property
    def current_error(self) -> str:
        return self.last_error

    @property
    def can_trade(self) -> bool:
        return not self.problems


@dataclass
class SystemHealth:
    checked_at: datetime
    database: str = "ok"
    broker: str = "ok"
    redis: str = "ok"
    heartbeat_at: datetime | None = None
    heartbeat_age_seconds: float | None = None
    beat_heartbeat_at: datetime | None = None
    beat_heartbeat_age_seconds: float | None = None
    heartbeat_max_age_seconds: float = 60.0  # MonitorSettings (the watchdog's)
    last_trade_at: datetime | None = None
    last_trade_age_seconds: float | None = None
    kill_switch: bool = False
    kill_switch_reason: str = ""
    kill_switch_set_by: str = ""
    kill_switch_set_at: datetime | None = None
    exchanges: list[ExchangeHealth] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # trading.problems, worst first
    # Websocket streams (trading/services/stream_status.py); a stream down is
    # not a problem for trading: its books are polled.
    streams: list[Any] = field(default_factory=list)
    # False: ARBSITE_CONFORMANCE_REQUIRED=false, the conformance gate is off.
    conformance_required: bool = True

    @property
    def can_trade(self) -> bool:
        """No critical problem (``/healthz`` 200)."""
        return not any(p.severity == CRITICAL for p in self.problems)

    @property
    def status(self) -> str:
        """``ok``, ``degraded`` (warnings only) or ``unavailable`` (cannot trade)."""
        if not self.can_trade:
            return "unavailable"
        return "degraded" if self.problems else "ok"


def _age(at: datetime | None, now: datetime) -> float | None:
    return None if at is None else round(max((now - at).total_seconds(), 0.0), 1)


def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _latest_error(candidates: list[tuple[str, datetime | None, str]],
                  now: datetime) -> tuple[str, datetime | None, str]:
    """The newest of (error, when, where seen), if not older than ERROR_SHOWN_SECONDS."""
    dated = [c for c in candidates if c[0] and c[1] is not None]
    if not dated:
        return "", None, ""
    error, at, source = max(dated, key=lambda c: c[1])
    if (now - at).total_seconds() > ERROR_SHOWN_SECONDS:
        return "", None, ""
    return error, at, source


def exchange_health(exchange: Exchange, *, now: datetime,
                    books: dict[tuple[str, str], CachedBook] | None = None,
                    markets: list[str] | None = None,
                    book_max_age: float = 3.0) -> ExchangeHealth:
    """One exchange: switches, books against detection's maximum age,
    breaker, back-off, its latest error."""
    health = ExchangeHealth(exchange.pk, exchange.name, exchange.enabled, exchange.trading_enabled)
    health.book_max_age = book_max_age
    health.conformance = conformance_state(exchange)
    if exchange.enabled and not health.conformance.allowed:
        health.problems.append(f"conformance check {health.conformance.label}")
    if not (exchange.enabled and exchange.trading_enabled):
        health.off_since = off_since(exchange, "enabled" if not exchange.enabled
                                      else "trading_enabled")
    try:
        status = redis_client().hgetall(key("exchange", exchange.name, "status"))
        breaker = breaker_state(exchange.name)
        backoff = backoff_state(exchange.name)
        if books is None:
            books = books_latest()
    except Exception as exc:  # Redis down: report it, never fail the page
        logger.warning("status of %s unavailable: %s", exchange.name, exc)
        health.problems.append("status unavailable (Redis)")
        return health
    health.last_ok_at = _parse(status.get("last_ok_at"))
    own = [b.fetched_at for (name, _), b in books.items() if name == exchange.name]
    newest = max([*own, *([health.last_ok_at] if health.last_ok_at else [])], default=None)
    health.last_ok_at = newest
    health.book_age_seconds = _age(newest, now)
    health.backoff_seconds = round(backoff.remaining, 1)
    health.backoff_since = backoff.since
    health.backoff_reason = backoff.reason
    health.last_error, health.last_error_at, health.last_error_source = _latest_error([
        (status.get("last_error", ""), _parse(status.get("last_error_at")), "book fetch"),
        (breaker.last_error, breaker.last_failure_at, "breaker"),
        (backoff.reason if backoff.active else "", backoff.since, "rate limit"),
    ], now)
    health.breaker = breaker.state
    health.breaker_failures = breaker.failures
    health.breaker_error = breaker.last_error
    health.breaker_opened_at = breaker.opened_at
    health.breaker_scope = breaker.scope
    if not exchange.enabled:
        health.problems.append("disabled")
        return health
    if not exchange.trading_enabled:
        health.problems.append("trading paused")
    if health.breaker != CLOSED:
        health.problems.append("credentials refused" if breaker.scope == "private"
                               else f"circuit breaker {health.breaker.replace('_', '-')}")
    markets = markets or []
    health.listings = len(markets)
    limit = book_max_age + BOOK_STALE_GRACE_SECONDS
    oldest: datetime | None = None
    for market in markets:
        cached = books.get((exchange.name, market))
        age = _age(cached.fetched_at, now) if cached else None
        if age is None or age > limit:
            health.stale_books.append((market, age))
            if cached is not None and (oldest is None or cached.fetched_at < oldest):
                oldest = cached.fetched_at
    if health.stale_books:
        health.books_stale_since = oldest
        health.problems.append(
            "no fresh book" if len(health.stale_books) == len(markets) and oldest is None
            else f"{len(health.stale_books)} of {len(markets)} books stale")
    if health.backoff_seconds:
        health.problems.append(f"rate-limit back-off {health.backoff_seconds:.0f}s")
    return health


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        logger.error("health: database unavailable: %s", exc)
        return f"error: {type(exc).__name__}"


def _check_broker() -> str:
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        logger.error("health: broker unavailable: %s", exc)
        return f"error: {type(exc).__name__}"


def _listed_markets() -> dict[str, list[str]]:
    """Enabled listings of enabled markets, by exchange name."""
    result: dict[str, list[str]] = {}
    for name, base, quote in (ExchangeMarket.objects.filter(enabled=True, market__enabled=True)
                              .order_by("exchange__name", "market__base", "market__quote")
                              .values_list("exchange__name", "market__base", "market__quote")):
        result.setdefault(name, []).append(f"{base}-{quote}")
    return result


def system_health(*, now: datetime | None = None) -> SystemHealth:
    """Everything trading needs, read once: database, broker, Redis, a live
    worker and beat (their heartbeats), the kill switch, each exchange, the
    last trade; then its problems (``trading.problems.health_problems``)."""
    now = now or timezone.now()
    health = SystemHealth(checked_at=now, database=_check_database(), broker=_check_broker(),
                          conformance_required=conformance_required())
    try:
        health.heartbeat_at = heartbeat_last(role="worker")
        health.beat_heartbeat_at = heartbeat_last(role="beat")
    except Exception as exc:
        health.redis = f"error: {type(exc).__name__}"
    health.heartbeat_age_seconds = _age(health.heartbeat_at, now)
    health.beat_heartbeat_age_seconds = _age(health.beat_heartbeat_at, now)
    if health.database == "ok":
        from trading.alerts.models import MonitorSettings

        health.heartbeat_max_age_seconds = float(
            MonitorSettings.load().heartbeat_max_age_seconds)
        risk = RiskSettings.load()
        health.kill_switch = risk.kill_switch
        health.kill_switch_reason = risk.kill_switch_reason
        health.kill_switch_set_by = risk.kill_switch_set_by
        health.kill_switch_set_at = risk.kill_switch_set_at
        health.last_trade_at = Trade.objects.aggregate(at=Max("executed_at"))["at"]
        health.last_trade_age_seconds = _age(health.last_trade_at, now)
        try:
            books = books_latest() if health.redis == "ok" else {}
        except Exception as exc:
            logger.warning("health: books unavailable: %s", exc)
            books = {}
        listed = _listed_markets()
        health.exchanges = [
            exchange_health(e, now=now, books=books, markets=listed.get(e.name, []),
                            book_max_age=risk.max_book_age_ms / 1000)
            for e in Exchange.objects.order_by("name")]
        try:
            from trading.services.stream_status import streams_status

            health.streams = streams_status()
        except Exception as exc:  # Redis down: reported above; the page still renders
            logger.warning("health: stream status unavailable: %s", exc)
    health.problems = health_problems(health, now=now)
    return health


@dataclass
class PnlLine:
    quote_asset: str
    realized: Decimal
    limit: Decimal | None
    unwind_losses: Decimal = Decimal("0")  # gross, today: not netted against profits
    unwind_limit: Decimal | None = None

    @property
    def used_pct(self) -> Decimal | None:
        if not self.limit or self.realized >= 0:
            return Decimal("0") if self.limit else None
        return (-self.realized / self.limit * 100).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class AssetBalance:
    asset: str
    total: Decimal
    available: Decimal
    locked: Decimal


@dataclass
class ExchangeBalances:
    """One exchange's balances as the system last read them (the cache
    detection plans with, ``trading.services.balances``), never a live call."""

    exchange: str
    assets: list[AssetBalance]
    fetched_at: datetime | None
    age_seconds: float | None


@dataclass
class PausedTrading:
    """What is switched off: markets paused everywhere, one exchange's
    listings turned off, exchanges paused or disabled."""

    markets: list[Market]
    listings: list[ExchangeMarket]
    exchanges: list[ExchangeHealth]

    @property
    def anything(self) -> bool:
        return bool(self.markets or self.listings or self.exchanges)


@dataclass
class ControlPanel:
    health: SystemHealth
    pnl: list[PnlLine]
    live_orders: int
    unknown_orders: list[Order]
    open_orders: list[Order]
    opportunities: list[Opportunity]
    recovery: dict[str, dict[str, str]]
    rejections: RejectionSummary | None  # None: Redis unavailable
    balances: list[ExchangeBalances] | None = None  # None: Redis unavailable
    paused: PausedTrading | None = None
    book_rejections: list[BookRejectionLine] | None = None  # None: Redis unavailable
    protections: list[PairProtection] = field(default_factory=list)  # in force now
    decisions_by_source: DecisionsBySource | None = None


# Balances are shown in this order of assets: the quotes first, then the rest.
_ASSET_ORDER = {asset: i for i, asset in enumerate(QUOTE_ASSETS)}


def balances_cached(exchanges: list[str], *, now: datetime) -> list[ExchangeBalances]:
    """Each exchange's cached balances (an exchange never read is listed with none)."""
    cached = balances_latest(exchanges)
    result = []
    for name in exchanges:
        entry = cached.get(name)
        if entry is None:
            result.append(ExchangeBalances(name, [], None, None))
            continue
        assets = [AssetBalance(b.asset, b.total, b.available, b.locked)
                  for b in entry.balances.values() if b.total or b.available or b.locked]
        assets.sort(key=lambda a: (_ASSET_ORDER.get(a.asset, len(_ASSET_ORDER)), a.asset))
        result.append(ExchangeBalances(name, assets, entry.fetched_at,
                                       _age(entry.fetched_at, now)))
    return result


def trading_paused(health: SystemHealth) -> PausedTrading:
    """Markets, listings and exchanges an operator (or setup) switched off."""
    return PausedTrading(
        markets=list(Market.objects.filter(enabled=False).order_by("base", "quote")),
        listings=list(ExchangeMarket.objects.filter(enabled=False, exchange__enabled=True,
                                                    market__enabled=True)
                      .select_related("exchange", "market")
                      .order_by("exchange__name", "market__base", "market__quote")),
        exchanges=[e for e in health.exchanges if not (e.enabled and e.trading_enabled)],
    )


@dataclass(frozen=True)
class SourceDecisions:
    """Decisions of one exchange's books from one source (``stream`` or ``poll``):
    each decision counts once per leg on that exchange."""

    source: str
    exchange: str
    opened: int  # opportunities written (whatever became of them)
    rejected: int  # pairs detection rejected, "not crossed" (the quiet state) aside


@dataclass(frozen=True)
class DecisionsBySource:
    minutes: int
    lines: list[SourceDecisions]
    # source → median age (ms) of the books the opened decisions were taken on
    median_book_age_ms: dict[str, int | None]
    rejected_unavailable: bool = False  # Redis unreadable: rejected counts missing


def decisions_by_source(*, now: datetime | None = None,
                        minutes: int = 60) -> DecisionsBySource:
    """Detection's decisions of the last ``minutes`` by book source and
    exchange: opened (Opportunity rows, their legs' recorded sources and
    ages: one query) and rejected (detection's per-minute counts in Redis:
    one round trip), with the median book age at decision per source."""
    from statistics import median

    from django.db.models import Q

    from trading.detection.rejections import rejections_by_source_recent

    now = now or timezone.now()
    since = now - timedelta(minutes=minutes)
    opened: dict[tuple[str, str], int] = {}
    ages: dict[str, list[int]] = {}
    rows = (Opportunity.objects.filter(created_at__gt=since, created_at__lte=now)
            .filter(~Q(buy_book_source="") | ~Q(sell_book_source=""))
            .values_list("buy_exchange__name", "buy_book_source", "buy_book_age_ms",
                         "sell_exchange__name", "sell_book_source", "sell_book_age_ms"))
    for row in rows:
        for exchange, source, age in (row[0:3], row[3:6]):
            if not source:
                continue
            opened[(source, exchange)] = opened.get((source, exchange), 0) + 1
            ages.setdefault(source, []).append(age)
    unavailable = False
    try:
        rejected = rejections_by_source_recent(now=now, minutes=minutes)
    except Exception as exc:  # Redis down: the panel still renders the opened side
        logger.warning("decisions by source: rejected counts unavailable: %s", exc)
        rejected, unavailable = {}, True
    keys = sorted(set(opened) | set(rejected), key=lambda k: (k[1], k[0]))
    lines = [SourceDecisions(source, exchange, opened.get((source, exchange), 0),
                             rejected.get((source, exchange), 0)) for source, exchange in keys]
    medians = {source: int(median(ages[source])) if ages.get(source) else None
               for source in sorted({k[0] for k in keys} | set(ages))}
    return DecisionsBySource(minutes, lines, medians, unavailable)


def control_panel(*, now: datetime | None = None, recent: int = 15) -> ControlPanel:
    """All the control panel shows, in a bounded number of queries."""
    from trading.services.control import recovery_last_request

    health = system_health(now=now)
    risk = RiskSettings.load()
    pnl_today = realized_pnl_today(now)
    unwinds_today = unwind_losses_today(now)
    pnl = [PnlLine(q, pnl_today.get(q, Decimal("0")), daily_loss_limit(risk, q),
                   unwinds_today.get(q, Decimal("0")), daily_unwind_loss_limit(risk, q))
           for q in sorted(set(QUOTE_ASSETS) | set(pnl_today))]
    live = Order.objects.filter(status__in=LIVE_STATES).select_related("exchange", "market")
    recovery: dict[str, dict[str, str]] = {}
    for exchange in health.exchanges:
        try:
            request = recovery_last_request(exchange.name)
        except Exception as exc:  # Redis down: the panel still renders
            logger.warning("control panel: recovery request of %s unavailable: %s",
                           exchange.name, exc)
            request = {}
        if request:
            recovery[exchange.name] = request
    try:
        rejections = rejections_recent(now=now)
    except Exception as exc:  # Redis down: the panel still renders
        logger.warning("control panel: detection's rejections unavailable: %s", exc)
        rejections = None
    try:
        balances = balances_cached([e.name for e in health.exchanges if e.enabled],
                                   now=health.checked_at)
    except Exception as exc:  # Redis down: the panel still renders
        logger.warning("control panel: cached balances unavailable: %s", exc)
        balances = None
    try:
        book_rejections = book_rejections_read()
    except Exception as exc:  # Redis down: the panel still renders
        logger.warning("control panel: rejected books unavailable: %s", exc)
        book_rejections = None
    protections = list(PairProtection.objects.filter(until__gt=now or timezone.now())
                       .select_related("market", "buy_exchange", "sell_exchange")
                       .order_by("until")[:50])
    return ControlPanel(
        health=health,
        book_rejections=book_rejections,
        protections=protections,
        pnl=pnl,
        live_orders=live.count(),
        unknown_orders=list(live.filter(status=OrderState.UNKNOWN).order_by("created_at")[:50]),
        open_orders=list(live.exclude(status=OrderState.UNKNOWN).order_by("-created_at")[:recent]),
        opportunities=list(Opportunity.objects.select_related("market", "buy_exchange",
                                                              "sell_exchange")[:recent]),
        recovery=recovery,
        rejections=rejections,
        balances=balances,
        paused=trading_paused(health),
        decisions_by_source=decisions_by_source(now=now),
    )
