"""Trading's selectors for its faces: is the system able to trade, and what
does the operator need to see?

They read, never write: ``system_health`` answers ``/healthz``
(``trading.views``) and heads the control panel; ``control_panel`` adds
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
from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.breaker import OPEN, breaker_state
from exchanges.conformance.gate import ConformanceState, conformance_required, conformance_state
from exchanges.models import Exchange, ExchangeMarket, Market
from exchanges.ratelimit import RateLimiter
from exchanges.states import LIVE_STATES, OrderState
from trading.detection.rejections import RejectionSummary, rejections_recent
from trading.models import Opportunity, Order, RiskSettings
from trading.pnl import QUOTE_ASSETS
from trading.services.balances import balances_latest
from trading.services.heartbeat import heartbeat_last
from trading.services.risk import daily_loss_limit, realized_pnl_today

logger = logging.getLogger(__name__)

# The heartbeat runs every 10 s; three missed beats mean beat or the worker is gone.
HEARTBEAT_MAX_AGE = 60.0
# A book older than this is not one detection would trade on.
BOOK_MAX_AGE = 30.0


@dataclass
class ExchangeHealth:
    pk: int
    name: str
    enabled: bool
    trading_enabled: bool
    last_ok_at: datetime | None = None
    book_age_seconds: float | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    breaker: str = "unknown"
    breaker_failures: int = 0
    breaker_error: str = ""
    backoff_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    conformance: ConformanceState | None = None  # exchanges.conformance.gate

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
    kill_switch: bool = False
    kill_switch_reason: str = ""
    kill_switch_set_by: str = ""
    kill_switch_set_at: datetime | None = None
    exchanges: list[ExchangeHealth] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Websocket streams (trading/services/stream_status.py); a stream down is
    # not a problem for trading: its books are polled.
    streams: list[Any] = field(default_factory=list)
    # False: ARBSITE_CONFORMANCE_REQUIRED=false, the conformance gate is off.
    conformance_required: bool = True

    @property
    def can_trade(self) -> bool:
        return not self.problems


def _age(at: datetime | None, now: datetime) -> float | None:
    return None if at is None else round(max((now - at).total_seconds(), 0.0), 1)


def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def exchange_health(exchange: Exchange, *, now: datetime) -> ExchangeHealth:
    """One exchange: switches, last good book fetch, breaker, back-off, last error."""
    health = ExchangeHealth(exchange.pk, exchange.name, exchange.enabled, exchange.trading_enabled)
    health.conformance = conformance_state(exchange)
    if exchange.enabled and not health.conformance.allowed:
        health.problems.append(f"conformance check {health.conformance.label}")
    try:
        status = redis_client().hgetall(key("exchange", exchange.name, "status"))
        breaker = breaker_state(exchange.name)
        health.backoff_seconds = round(RateLimiter(exchange.name, {}).backoff_remaining(), 1)
    except Exception as exc:  # Redis down: report it, never fail the page
        logger.warning("status of %s unavailable: %s", exchange.name, exc)
        health.problems.append("status unavailable (Redis)")
        return health
    health.last_ok_at = _parse(status.get("last_ok_at"))
    health.book_age_seconds = _age(health.last_ok_at, now)
    health.last_error = status.get("last_error", "")
    health.last_error_at = _parse(status.get("last_error_at"))
    health.breaker = breaker.state
    health.breaker_failures = breaker.failures
    health.breaker_error = breaker.last_error
    if not exchange.enabled:
        health.problems.append("disabled")
    elif not exchange.trading_enabled:
        health.problems.append("trading paused")
    if health.breaker == OPEN:
        health.problems.append("circuit breaker open")
    if exchange.enabled and (health.book_age_seconds is None
                             or health.book_age_seconds > BOOK_MAX_AGE):
        health.problems.append("no fresh book" if health.last_ok_at is None
                               else f"book {health.book_age_seconds:.0f}s old")
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


def system_health(*, now: datetime | None = None) -> SystemHealth:
    """Everything trading needs: database, broker, a live worker and beat
    (the heartbeat), the kill switch off, and two exchanges able to trade."""
    now = now or timezone.now()
    health = SystemHealth(checked_at=now, database=_check_database(), broker=_check_broker(),
                          conformance_required=conformance_required())
    if health.database != "ok":
        health.problems.append("database unavailable")
    if health.broker != "ok":
        health.problems.append("broker unavailable")
    try:
        health.heartbeat_at = heartbeat_last(role="worker")
    except Exception as exc:
        health.redis = f"error: {type(exc).__name__}"
        health.problems.append("Redis unavailable")
    health.heartbeat_age_seconds = _age(health.heartbeat_at, now)
    if health.redis == "ok" and (health.heartbeat_age_seconds is None
                                 or health.heartbeat_age_seconds > HEARTBEAT_MAX_AGE):
        health.problems.append("no heartbeat from beat and a worker"
                               + (f" for {health.heartbeat_age_seconds:.0f}s"
                                  if health.heartbeat_age_seconds is not None else ""))
    if health.database != "ok":
        return health
    risk = RiskSettings.load()
    health.kill_switch = risk.kill_switch
    health.kill_switch_reason = risk.kill_switch_reason
    health.kill_switch_set_by = risk.kill_switch_set_by
    health.kill_switch_set_at = risk.kill_switch_set_at
    if risk.kill_switch:
        health.problems.append("kill switch on")  # its free-text reason: panel only
    health.exchanges = [exchange_health(e, now=now) for e in Exchange.objects.order_by("name")]
    try:
        from trading.services.stream_status import streams_status

        health.streams = streams_status()
    except Exception as exc:  # Redis down: reported above; the page still renders
        logger.warning("health: stream status unavailable: %s", exc)
    if sum(e.can_trade for e in health.exchanges) < 2:
        health.problems.append("fewer than two exchanges can trade")
    return health


@dataclass
class PnlLine:
    quote_asset: str
    realized: Decimal
    limit: Decimal | None

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
    pnl = [PnlLine(q, pnl_today.get(q, Decimal("0")), daily_loss_limit(risk, q))
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
    return ControlPanel(
        health=health,
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
