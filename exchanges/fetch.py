"""Fetching many order books at once.

The trading poller needs every enabled (exchange, market) book within one
cycle; fetched one after another that would be 15 round trips. The calls
run on one shared thread pool per process (I/O bound: threads are right),
each adapter reusing its keep-alive Session, so a cycle costs about one
request's latency. One failed book never spoils the others: it comes back
as its error.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings

from exchanges.errors import ExchangeError, RateLimitedError, TransientError
from exchanges.interface import ExchangeAdapter
from exchanges.types import OrderBook

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None

BookKey = tuple[str, str]  # (exchange name, canonical market)


def executor() -> ThreadPoolExecutor:
    """The process's shared pool (rebuilt after a fork: threads do not survive one)."""
    global _executor, _executor_pid
    with _lock:
        if _executor is None or _executor_pid != os.getpid():
            workers = int(getattr(settings, "EXCHANGE_FETCH_WORKERS", 32))
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="books")
            _executor_pid = os.getpid()
        return _executor


def _fetch_one(adapter: ExchangeAdapter, market: str,
               max_wait: float | None) -> OrderBook | ExchangeError:
    try:
        return adapter.get_order_book(market, max_wait=max_wait)
    except RateLimitedError as exc:
        if exc.code == "LocalRateLimit":  # over our own budget: nothing was sent
            logger.debug("book %s %s: %s", adapter.name, market, exc)
            return exc
        logger.warning("book %s %s: %s", adapter.name, market, exc)
        return exc
    except ExchangeError as exc:
        logger.warning("book %s %s: %s", adapter.name, market, exc)
        return exc
    except Exception as exc:  # a bug must not take the whole cycle down
        logger.exception("book %s %s: unexpected error", adapter.name, market)
        return TransientError(adapter.name, f"{market}: unexpected {type(exc).__name__}: {exc}")


def fetch_books(
    adapters_and_markets: Iterable[tuple[ExchangeAdapter, str]],
    *,
    timeout: float | None = None,
    max_wait: float | None = None,
) -> dict[BookKey, OrderBook | ExchangeError]:
    """Every requested book, concurrently: ``{(exchange, market): book or error}``.

    ``timeout`` bounds the whole cycle; a book not back by then is reported
    as a ``TransientError`` (its request still completes in the background).
    """
    futures = {
        (adapter.name, market.upper()): executor().submit(_fetch_one, adapter, market, max_wait)
        for adapter, market in adapters_and_markets
    }
    results: dict[BookKey, OrderBook | ExchangeError] = {}
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=timeout)
        except FutureTimeout:
            results[key] = TransientError(key[0], f"{key[1]}: no book within {timeout:g}s")
    return results
