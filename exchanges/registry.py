"""Building adapters from the database: ``get_adapter(exchange)``, ``adapter_for(name)``.

Configuration precedence, per exchange: the admin's values on the Exchange
row (base_url, api_key, api_secret) win over the environment
(``NOBITEX_BASE_URL``, ``NOBITEX_API_TOKEN``; ``WALLEX_BASE_URL``,
``WALLEX_API_KEY``; ``INVEX_BASE_URL``, ``INVEX_API_KEY``,
``INVEX_PRIVATE_KEY``), which win over the real hosts.

Adapters are cached per process and rebuilt when their configuration
changes, so the keep-alive Session of each exchange is reused across calls.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings

from exchanges.adapters.invex import InvexAdapter
from exchanges.adapters.nobitex import NobitexAdapter
from exchanges.adapters.wallex import WallexAdapter
from exchanges.catalog import EXCHANGES
from exchanges.interface import AdapterConfig, ExchangeAdapter
from exchanges.markets import MarketSpec
from exchanges.models import Exchange, ExchangeMarket
from exchanges.ratelimit import limits_for

ADAPTERS: dict[str, type[ExchangeAdapter]] = {
    "nobitex": NobitexAdapter,
    "wallex": WallexAdapter,
    "invex": InvexAdapter,
}


_cache: dict[str, tuple[AdapterConfig, ExchangeAdapter]] = {}
_cache_lock = threading.Lock()


def _env(name: str | None) -> str:
    if not name:
        return ""
    value = getattr(settings, name, None) or os.environ.get(name, "")
    return str(value).strip()


def market_specs(exchange: Exchange) -> dict[str, MarketSpec]:
    """The exchange's enabled listings as ``MarketSpec``s, by canonical code."""
    rows = ExchangeMarket.objects.filter(exchange=exchange, enabled=True).select_related("market")
    return {
        row.market.code: MarketSpec(
            market=row.market.code,
            symbol=row.symbol,
            price_scale=row.price_scale,
            amount_step=row.amount_step,
            price_tick=row.price_tick,
            min_order_value=row.min_order_value,
        )
        for row in rows
    }


def config_for(exchange: Exchange) -> AdapterConfig:
    names = EXCHANGES[exchange.adapter]
    connect_timeout, read_timeout = getattr(settings, "EXCHANGE_HTTP_TIMEOUT", (3.05, 10.0))
    rate_limited = getattr(settings, "EXCHANGE_RATE_LIMITS_ENABLED", True)
    return AdapterConfig(
        name=exchange.name,
        base_url=exchange.base_url or _env(names.base_url_env) or names.default_base_url,
        api_key=exchange.api_key or _env(names.api_key_env),
        api_secret=exchange.api_secret or _env(names.api_secret_env),
        markets=market_specs(exchange),
        connect_timeout=float(connect_timeout),
        read_timeout=float(read_timeout),
        read_retries=int(getattr(settings, "EXCHANGE_READ_RETRIES", 2)),
        rate_limits=limits_for(exchange.adapter) if rate_limited else None,
        rate_limit_max_wait=float(getattr(settings, "EXCHANGE_RATE_LIMIT_MAX_WAIT", 2.0)),
        breaker=bool(getattr(settings, "EXCHANGE_BREAKER_ENABLED", True)),
    )


def build_adapter(kind: str, config: AdapterConfig) -> ExchangeAdapter:
    try:
        adapter_class = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown adapter {kind!r} (known: {', '.join(ADAPTERS)})") from None
    return adapter_class(config)


def get_adapter(exchange: Exchange) -> ExchangeAdapter:
    """The adapter for this Exchange row, reused while its configuration holds."""
    config = config_for(exchange)
    with _cache_lock:
        cached = _cache.get(exchange.name)
        if cached is not None and cached[0] == config:
            return cached[1]
        adapter = build_adapter(exchange.adapter, config)
        if cached is not None:
            cached[1].close()
        _cache[exchange.name] = (config, adapter)
        return adapter


def adapter_for(name: str) -> ExchangeAdapter:
    """The adapter of the exchange named ``name`` (raises Exchange.DoesNotExist)."""
    return get_adapter(Exchange.objects.get(name=name))


def clear_cache() -> None:
    with _cache_lock:
        for _, adapter in _cache.values():
            adapter.close()
        _cache.clear()
