"""Trading's plain views (the admin and the report pages have their own):
``/healthz``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from trading.alerts.watchdog import web_heartbeat_watch
from trading.selectors import SystemHealth, system_health


def health_json(health: SystemHealth) -> dict[str, Any]:
    """The public, secret-free form of ``system_health`` for ``/healthz``."""
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    return {
        "status": "ok" if health.can_trade else "unavailable",
        "can_trade": health.can_trade,
        "problems": health.problems,
        "checked_at": plain(health.checked_at),
        "database": health.database,
        "broker": health.broker,
        "redis": health.redis,
        "heartbeat_age_seconds": health.heartbeat_age_seconds,
        "kill_switch": health.kill_switch,
        "conformance_required": health.conformance_required,
        "exchanges": {
            e.name: {
                "enabled": e.enabled,
                "trading_enabled": e.trading_enabled,
                "book_age_seconds": e.book_age_seconds,
                "breaker": e.breaker,
                "backoff_seconds": e.backoff_seconds,
                "can_trade": e.can_trade,
                "conformance": e.conformance.as_json() if e.conformance else None,
            }
            for e in health.exchanges
        },
        "streams": {s.exchange: s.as_json() for s in health.streams},
    }


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """``/healthz``: 200 when the system can trade, 503 (with why) when not."""
    health = system_health()
    web_heartbeat_watch()  # the last watcher when worker and beat are both gone
    return JsonResponse(health_json(health), status=200 if health.can_trade else 503)
