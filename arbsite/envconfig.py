"""Reading settings from the environment with errors that name the variable.

django-environ does the parsing; these helpers add the strictness a trading
system needs: a typo in ``DEBUG`` or a malformed URL stops start-up with a
message naming the variable, instead of silently falling back to a default.
"""

from __future__ import annotations

import json
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
    value = _raw(name) or default
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
