"""Polling: fetch every enabled (exchange, market) book at once and keep
the latest of each in Redis, then ask for detection (fresh books are what
it works on).

Runs from beat every second; a Redis lock with an expiry keeps runs from
piling up (a run that finds the lock taken does nothing), and the schedule
entry expires so a backlog is dropped rather than replayed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from arbsite.locks import POLL_ORDERBOOKS, redis_lock
from arbsite.redis import key, redis_client
from exchanges.errors import CircuitOpenError, ConfigurationError, ExchangeError, RateLimitedError
from exchanges.fetch import fetch_books
from exchanges.models import Exchange, ExchangeMarket
from exchanges.registry import get_adapter
from exchanges.types import OrderBook
from trading.services.books import books_store
from trading.services.detection_trigger import detection_request
from trading.services.stream_status import books_kept_by_streams

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = 3.0


@dataclass
class PollReport:
    ran: bool
    fetched: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    skipped_exchanges: list[str] = field(default_factory=list)
    throttled: int = 0  # books left for the next cycle to stay within rate limits
    elapsed_ms: float = 0.0
    detection_requested: bool = False


def enabled_listings() -> list[ExchangeMarket]:
    return list(
        ExchangeMarket.objects.filter(enabled=True, exchange__enabled=True, market__enabled=True)
        .select_related("exchange", "market").order_by("exchange__name", "market_id")
    )


def exchange_status_record(exchange: str, *, ok: bool, error: str = "") -> None:
    """Last successful fetch and last error per exchange, for the control panel."""
    now = timezone.now().isoformat()
    fields = {"last_ok_at": now} if ok else {"last_error": error[:500], "last_error_at": now}
    redis_client().hset(key("exchange", exchange, "status"), mapping=fields)


def orderbooks_poll(*, request_detection: Callable[[], Any]) -> PollReport:
    """One polling cycle; does nothing if another is still running.

    Fresh books are what detection works on: a cycle that stored any asks for
    a detection run, coalesced (``detection_trigger.detection_request``): the
    task passes ``detect_opportunities.delay`` as ``request_detection``."""
    started = time.perf_counter()
    with redis_lock(POLL_ORDERBOOKS) as acquired:
        if not acquired:
            return PollReport(ran=False)
        report = PollReport(ran=True)
        adapters = {}
        unconfigured: dict[str, str] = {}
        pairs = []
        streamed = books_kept_by_streams()  # fresh from a websocket: not polled
        for listing in enabled_listings():
            if (listing.exchange.name, listing.market.code) in streamed:
                continue
            exchange: Exchange = listing.exchange
            if exchange.name in unconfigured:
                continue
            if exchange.name not in adapters:
                try:
                    adapters[exchange.name] = get_adapter(exchange)
                except ConfigurationError as exc:
                    # A stored setting of this exchange (its wire variants,
                    # written before the admin checked them) cannot configure
                    # its adapter: it is skipped, the others are polled.
                    unconfigured[exchange.name] = f"configuration unreadable: {exc}"
                    continue
            pairs.append((adapters[exchange.name], listing.market.code))
        for name, problem in unconfigured.items():
            logger.error("poll: %s skipped, %s", name, problem)
            report.errors[name] = problem
            exchange_status_record(name, ok=False, error=problem)
        # Never wait for a rate-limit slot: a book over budget now is fetched
        # next cycle, and detection judges every book by its age.
        results = fetch_books(pairs, timeout=FETCH_TIMEOUT, max_wait=0)
        books = [r for r in results.values() if isinstance(r, OrderBook)]
        books_store(books, keep_newer=True)  # never over a newer streamed book
        report.fetched = len(books)
        failed: dict[str, ExchangeError] = {}
        for (exchange_name, market), result in results.items():
            if isinstance(result, CircuitOpenError):
                if exchange_name not in report.skipped_exchanges:
                    report.skipped_exchanges.append(exchange_name)
            elif isinstance(result, RateLimitedError) and result.code == "LocalRateLimit":
                report.throttled += 1
            elif isinstance(result, ExchangeError):
                report.errors[f"{exchange_name} {market}"] = str(result)
                failed[exchange_name] = result
        for name in adapters:
            if name in failed:
                exchange_status_record(name, ok=False, error=str(failed[name]))
            elif name not in report.skipped_exchanges:
                exchange_status_record(name, ok=True)
        report.elapsed_ms = (time.perf_counter() - started) * 1000
    if report.errors:
        logger.warning("poll: %d books, %d errors: %s", report.fetched, len(report.errors),
                       "; ".join(f"{k}: {v}" for k, v in list(report.errors.items())[:5]))
    if report.fetched:
        detection_request(enqueue=request_detection)
        report.detection_requested = True
    return report


def balances_refresh() -> dict[str, str]:
    """Read every enabled exchange's balances into the cache used by detection.
    Returns errors by exchange."""
    from trading.services.balances import balances_store

    errors: dict[str, str] = {}
    for exchange in Exchange.objects.filter(enabled=True).order_by("name"):
        try:
            balances_store(exchange.name, get_adapter(exchange).balances())
        except ExchangeError as exc:
            errors[exchange.name] = str(exc)
            logger.warning("balances of %s not refreshed: %s", exchange.name, exc)
    return errors
