"""Building adapters from the database: ``get_adapter(exchange)``, ``adapter_for(name)``.

Configuration precedence, per exchange: the admin's values on the Exchange
row (base_url, api_key, api_secret) win over the environment
(``NOBITEX_BASE_URL``, ``NOBITEX_API_TOKEN``; ``WALLEX_BASE_URL``,
``WALLEX_API_KEY``; ``INVEX_BASE_URL``, ``INVEX_API_KEY``,
``INVEX_PRIVATE_KEY``), which win over the real hosts.

Adapters are cached per process and rebuilt when their configuration
changes, so the keep-alive Session of each exchange is reused across calls.

Wire variants (``exchanges.variants``): the row's ``wire_variants`` over
``settings.EXCHANGE_WIRE_VARIANTS`` (``{adapter kind: {name: value}}``, a
code-level default for a deployment or a test run; empty normally) over
the documented defaults.

Probes (``probe_adapter``): the ``exchange`` command and ``recover_orders
--dry-run`` get a fresh adapter of their own, never the cached one, built
with ``probe=True``: no shared breaker, a local and conservative rate budget
(``exchanges.interface``).

How fresh the cache is: ``get_adapter(row)`` reuses the cached adapter
without reading anything while the row is the one the adapter was built
from (same primary key and ``updated_at``) and the cache was checked less
than ``EXCHANGE_ADAPTER_CACHE_SECONDS`` ago (default 5 s). So a change saved
on the Exchange row (the admin, ``setup``: ``save()`` moves ``updated_at``)
applies to the next call that passes the new row; a change that does not
touch the row's ``updated_at`` (a listing's symbol or precision, a
queryset ``update()``, an environment variable) applies within those
seconds, when the configuration is rebuilt (one query for the listings, the
credentials decrypted) and compared. Trading decisions never depend on it:
pause flags, fees and listings are read from the database by detection and
execution themselves. The hot path (execution's two legs) thus costs no
query and no decryption here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from exchanges.adapters.invex import InvexAdapter
from exchanges.adapters.nobitex import NobitexAdapter
from exchanges.adapters.wallex import WallexAdapter
from exchanges.catalog import EXCHANGES
from exchanges.errors import ConfigurationError
from exchanges.interface import AdapterConfig, ExchangeAdapter
from exchanges.markets import MarketSpec
from exchanges.models import Exchange, ExchangeMarket
from exchanges.ratelimit import DEFAULT_BACKOFF_S, limits_for
from exchanges.services.base_url import effective_base_url, environment_credentials_apply

ADAPTERS: dict[str, type[ExchangeAdapter]] = {
    "nobitex": NobitexAdapter,
    "wallex": WallexAdapter,
    "invex": InvexAdapter,
}


# Seconds a cached adapter is trusted without rebuilding its configuration.
DEFAULT_CACHE_SECONDS = 5.0


@dataclass
class _Cached:
    config: AdapterConfig
    adapter: ExchangeAdapter
    exchange_pk: int | None
    updated_at: datetime | None
    checked_at: float  # time.monotonic() of the last full comparison


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def _env(name: str | None) -> str:
    """A credential from the environment, as read (and validated) by settings."""
    if not name:
        return ""
    return str(getattr(settings, name, None) or "").strip()


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


def _credentials(exchange: Exchange) -> tuple[str, str]:
    """The row's API key and secret; read (and decrypted) here when the row
    was loaded without them (``.defer("api_key", "api_secret")``)."""
    if exchange.pk is not None and {"api_key", "api_secret"} & exchange.get_deferred_fields():
        row = (Exchange.objects.filter(pk=exchange.pk)
               .values_list("api_key", "api_secret").first())
        return (row[0] or "", row[1] or "") if row else ("", "")
    return exchange.api_key or "", exchange.api_secret or ""


def api_key_in_use(exchange: Exchange) -> tuple[str, str]:
    """The API key calls to this exchange carry, and where it comes from:
    ``"admin"`` (the row), ``"environment"``, or ``""`` (none)."""
    api_key, _ = _credentials(exchange)
    if api_key:
        return api_key, "admin"
    if environment_credentials_apply(exchange):
        env_key = _env(EXCHANGES[exchange.adapter].api_key_env)
        if env_key:
            return env_key, "environment"
    return "", ""


def wire_variants(exchange: Exchange) -> dict[str, str]:
    """The wire variants this exchange row speaks (see the module docstring)."""
    defaults = getattr(settings, "EXCHANGE_WIRE_VARIANTS", {}) or {}
    stored = exchange.wire_variants or {}
    if not isinstance(stored, Mapping):  # a row written before the admin checked it
        raise ConfigurationError(exchange.name, "wire_variants must be an object of NAME: "
                                                f"VALUE, got {type(stored).__name__}")
    return {**dict(defaults.get(exchange.adapter, {})), **dict(stored)}


@dataclass(frozen=True)
class CredentialSource:
    """Where one credential of an exchange comes from, as ``config_for`` reads it."""

    credential: str  # "API key", "signing key"
    source: str  # "admin" | "environment" | "none"
    variable: str | None  # the environment variable that would supply it
    note: str = ""

    def describe(self) -> str:
        if self.source == "admin":
            text = f"{self.credential}: from the admin (stored encrypted on this exchange)"
        elif self.source == "environment":
            text = f"{self.credential}: from the environment ({self.variable})"
        else:
            text = f"{self.credential}: not set"
            if self.variable:
                text += f" (set it in the admin or in {self.variable})"
        return f"{text}; {self.note}" if self.note else text


def credentials_source(exchange: Exchange) -> list[CredentialSource]:
    """Where this row's credentials come from: the admin's (the row) win over
    the environment's, which only go to the environment's host (see
    ``exchanges.services.base_url``). Says nothing of their values."""
    names = EXCHANGES[exchange.adapter]
    api_key, api_secret = _credentials(exchange)
    from_env = environment_credentials_apply(exchange)
    sources = []
    for label, stored, variable in (("API key", api_key, names.api_key_env),
                                    ("signing key", api_secret, names.api_secret_env)):
        if variable is None and not stored:
            continue  # this exchange needs no such credential
        env_value = bool(_env(variable))
        if stored:
            note = (f"{variable} is also set and is not used" if env_value and from_env
                    else "")
            sources.append(CredentialSource(label, "admin", variable, note))
        elif env_value and from_env:
            sources.append(CredentialSource(label, "environment", variable))
        elif env_value:
            sources.append(CredentialSource(
                label, "none", variable,
                f"{variable} is set but not used: calls go to {effective_base_url(exchange)}, "
                "not to the environment's host"))
        else:
            sources.append(CredentialSource(label, "none", variable))
    return sources


def config_for(exchange: Exchange, *, probe: bool = False) -> AdapterConfig:
    names = EXCHANGES[exchange.adapter]
    connect_timeout, read_timeout = getattr(settings, "EXCHANGE_HTTP_TIMEOUT", (3.05, 10.0))
    rate_limited = getattr(settings, "EXCHANGE_RATE_LIMITS_ENABLED", True)
    api_key, api_secret = _credentials(exchange)
    # The environment's credentials only go to the environment's host.
    from_env = environment_credentials_apply(exchange)
    return AdapterConfig(
        name=exchange.name,
        base_url=effective_base_url(exchange),
        api_key=api_key or (_env(names.api_key_env) if from_env else ""),
        api_secret=api_secret or (_env(names.api_secret_env) if from_env else ""),
        markets=market_specs(exchange),
        connect_timeout=float(connect_timeout),
        read_timeout=float(read_timeout),
        read_retries=int(getattr(settings, "EXCHANGE_READ_RETRIES", 2)),
        rate_limits=limits_for(exchange.adapter) if rate_limited else None,
        rate_limit_max_wait=float(getattr(settings, "EXCHANGE_RATE_LIMIT_MAX_WAIT", 2.0)),
        breaker=bool(getattr(settings, "EXCHANGE_BREAKER_ENABLED", True)),
        variants=wire_variants(exchange),
        probe=probe,
        default_backoff=float(getattr(settings, "EXCHANGE_DEFAULT_BACKOFF_SECONDS",
                                      DEFAULT_BACKOFF_S)),
    )


def place_timeout_seconds() -> float:
    """The longest a place request may be in flight after its order was
    written: the wait for a rate-limit slot, then the connect and read
    timeouts (a place is never retried). ``settings.EXCHANGE_PLACE_TIMEOUT``
    at start; read again here, as tests and commands may change the parts."""
    connect_timeout, read_timeout = getattr(settings, "EXCHANGE_HTTP_TIMEOUT", (3.05, 10.0))
    max_wait = float(getattr(settings, "EXCHANGE_RATE_LIMIT_MAX_WAIT", 2.0))
    return max_wait + float(connect_timeout) + float(read_timeout)


def build_adapter(kind: str, config: AdapterConfig) -> ExchangeAdapter:
    try:
        adapter_class = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown adapter {kind!r} (known: {', '.join(ADAPTERS)})") from None
    return adapter_class(config)


def _cache_seconds() -> float:
    return float(getattr(settings, "EXCHANGE_ADAPTER_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))


def get_adapter(exchange: Exchange) -> ExchangeAdapter:
    """The adapter for this Exchange row, reused while its configuration
    holds (see the module docstring for how fresh that is)."""
    now = time.monotonic()
    cached = _cache.get(exchange.name)
    if (cached is not None and exchange.pk is not None
            and cached.exchange_pk == exchange.pk and cached.updated_at == exchange.updated_at
            and now - cached.checked_at < _cache_seconds()):
        return cached.adapter
    config = config_for(exchange)
    with _cache_lock:
        cached = _cache.get(exchange.name)
        if cached is not None and cached.config == config:
            cached.exchange_pk, cached.updated_at = exchange.pk, exchange.updated_at
            cached.checked_at = now
            return cached.adapter
        adapter = build_adapter(exchange.adapter, config)
        if cached is not None:
            cached.adapter.close()
        _cache[exchange.name] = _Cached(config, adapter, exchange.pk, exchange.updated_at, now)
        return adapter


def probe_adapter(exchange: Exchange) -> ExchangeAdapter:
    """A fresh adapter in probe mode for this row: not cached, no shared breaker,
    its own small rate budget. Close it when done."""
    return build_adapter(exchange.adapter, config_for(exchange, probe=True))


def adapter_for(name: str) -> ExchangeAdapter:
    """The adapter of the exchange named ``name`` (raises Exchange.DoesNotExist)."""
    return get_adapter(Exchange.objects.get(name=name))


def clear_cache() -> None:
    with _cache_lock:
        for cached in _cache.values():
            cached.adapter.close()
        _cache.clear()
