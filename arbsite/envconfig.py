"""Reading settings from the environment with errors that name the variable.

django-environ does the parsing; these helpers add the strictness a trading
system needs: a typo in ``DEBUG`` or a malformed URL stops start-up with a
message naming the variable, instead of silently falling back to a default.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n", ""}


def _raw(name: str) -> str | None:
    value = env.str(name, default=None)
    return value.strip() if isinstance(value, str) else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {value!r})")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer (got {value!r})") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {number})")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None,
              above: float | None = None) -> float:
    """A finite number (seconds, mostly): at least ``minimum``, or strictly
    greater than ``above``."""
    value = _raw(name)
    if value is None or value == "":
        return float(default)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a number (got {value!r})") from None
    if not number.is_finite():
        raise ImproperlyConfigured(f"{name} must be a finite number (got {value!r})")
    if minimum is not None and number < Decimal(str(minimum)):
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value})")
    if above is not None and number <= Decimal(str(above)):
        raise ImproperlyConfigured(f"{name} must be greater than {above} (got {value})")
    return float(number)


def env_name(name: str, default: str) -> str:
    """An identifier (queue name, key prefix): letters, digits, ``_.-``."""
    value = env_str(name, default)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise ImproperlyConfigured(
            f"{name} may hold only letters, digits, '_', '.' and '-' (got {value!r})")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive), returned as spelled there."""
    value = env_str(name, default)
    by_upper = {c.upper(): c for c in choices}
    if value.upper() not in by_upper:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return by_upper[value.upper()]


def env_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys; a bad one is named by position, never echoed."""
    from cryptography.fernet import Fernet

    keys = env_list(name, [])
    for position, value in enumerate(keys, 1):
        try:
            Fernet(value.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded "
                "bytes; generate one with Fernet.generate_key())") from None
    return keys


def env_origins(name: str) -> list[str]:
    """Comma-separated origins with their scheme (https://arb.example.com)."""
    origins = env_list(name, [])
    for origin in origins:
        if not re.fullmatch(r"https?://[^\s/]+", origin):
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not an origin like https://arb.example.com")
    return origins


def env_rate_limits(name: str, *, exchanges: set[str], endpoints: set[str]) -> dict:
    """Per-exchange, per-endpoint-class limit overrides as JSON:
    ``{"wallex": {"book": [300, 60]}}`` = 300 calls per 60 seconds."""
    value = env_json(name, {})
    example = 'like {"wallex": {"book": [300, 60]}} (calls, seconds per endpoint class)'
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object {example}")
    for exchange, limits in value.items():
        if exchange not in exchanges:
            raise ImproperlyConfigured(
                f"{name}: unknown exchange {exchange!r} (known: {', '.join(sorted(exchanges))})")
        if not isinstance(limits, dict):
            raise ImproperlyConfigured(f"{name}: {exchange!r} must map to an object {example}")
        for endpoint, pair in limits.items():
            if endpoint not in endpoints:
                raise ImproperlyConfigured(
                    f"{name}: unknown endpoint class {endpoint!r} for {exchange} (known: "
                    f"{', '.join(sorted(endpoints))})")
            if not (isinstance(pair, list) and len(pair) == 2
                    and type(pair[0]) is int and pair[0] > 0
                    and type(pair[1]) in (int, float) and pair[1] > 0):
                raise ImproperlyConfigured(
                    f"{name}: {exchange}.{endpoint} must be [calls, seconds] with a whole "
                    f"number of calls above 0 and seconds above 0 (got {pair!r})")
    return value


def env_wire_variants(name: str, *, exchanges: set[str]) -> dict[str, dict[str, str]]:
    """Wire variants per adapter kind as JSON, ``{"invex": {"invex-signing":
    "compact"}}``, each checked against ``exchanges.variants``."""
    from exchanges.variants import validate_variants

    value = env_json(name, {})
    example = 'like {"invex": {"invex-signing": "compact"}}'
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object {example}")
    checked: dict[str, dict[str, str]] = {}
    for exchange, variants in value.items():
        if exchange not in exchanges:
            raise ImproperlyConfigured(
                f"{name}: unknown exchange {exchange!r} (known: {', '.join(sorted(exchanges))})")
        if not isinstance(variants, dict):
            raise ImproperlyConfigured(f"{name}: {exchange!r} must map to an object {example}")
        try:
            checked[exchange] = validate_variants(exchange, variants)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {exc}") from None
    return checked


def env_decimal(name: str, default: str) -> Decimal:
    value = _raw(name) or default
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number (got {value!r})") from None


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value in (None, "") else value


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json(name: str, default: Any) -> Any:
    value = _raw(name)
    if not value:
        return default
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} must be JSON ({exc})") from None


def env_db(name: str, default: str) -> dict[str, Any]:
    return db_config(_raw(name) or default, name=name)


def db_config(value: str, *, name: str) -> dict[str, Any]:
    """Django's DATABASES entry for a database URL; errors name ``name``."""
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name} is not a valid database URL ({exc})") from exc
    if not config.get("ENGINE") or not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} is not a valid database URL (got {value!r})")
    return config


def env_redis_url(name: str, default: str) -> str:
    value = _raw(name) or default
    parsed = urlparse(value)
    if parsed.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"{name} must be a redis://, rediss:// or unix:// URL (got {value!r})"
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port (got {value!r})") from None
    return value


def env_base_url(name: str, *, sandbox_urls: list[str]) -> str:
    """An exchange base URL from the environment, held to the admin's rule
    (``exchanges.hosts``: https, or the sandbox); "" when unset."""
    from exchanges.hosts import base_url_problem

    value = _raw(name) or ""
    if value:
        problem = base_url_problem(value, sandbox_urls=sandbox_urls)
        if problem:
            raise ImproperlyConfigured(f"{name}: {problem}")
    return value


def env_url_list(name: str) -> list[str]:
    """Comma-separated http(s) URLs with a host."""
    urls = env_list(name, [])
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ImproperlyConfigured(f"{name}: {url!r} is not an http(s) URL with a host")
    return urls


def env_timezone(name: str, default: str) -> str:
    value = _raw(name) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone such as Asia/Tehran (got {value!r})"
        ) from None
    return value


def env_ws_url(name: str, default: str) -> str:
    """A websocket URL (ws:// or wss:// with a host)."""
    value = _raw(name) or default
    parsed = urlparse(value)
    if parsed.scheme not in {"ws", "wss"} or not parsed.hostname:
        raise ImproperlyConfigured(f"{name} must be a ws:// or wss:// URL (got {value!r})")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port (got {value!r})") from None
    return value
