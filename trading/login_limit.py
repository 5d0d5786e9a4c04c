"""Admin login rate limit: failed logins are counted in Redis per username
and per client address; past ``LOGIN_FAILURE_LIMIT`` failures in
``LOGIN_FAILURE_WINDOW`` seconds, the login form refuses (HTTP 429) until
the window has passed. A successful login clears its username's count.

Why not django-axes: this app already shares all cross-process state in
Redis; a counter with an expiry there needs no tables, no authentication
backend (axes requires ``request`` in every ``authenticate()`` call) and
no signal handlers. If Redis is unreachable the limit fails open, logged,
rather than locking the operator out during an incident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from arbsite.redis import key, redis_client

logger = logging.getLogger(__name__)


def _keys(username: str, address: str) -> list[str]:
    keys = [key("login-failures", "addr", address or "-")]
    if username:
        keys.append(key("login-failures", "user", username.strip().lower()))
    return keys


def login_retry_after(*, username: str, address: str) -> int:
    """Seconds until a login for ``username`` from ``address`` is allowed (0: now)."""
    client = redis_client()
    waits = [0]
    for name in _keys(username, address):
        failures = int(client.get(name) or 0)
        if failures >= settings.LOGIN_FAILURE_LIMIT:
            waits.append(max(client.ttl(name), 1))
    return max(waits)


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed login against the username and the address."""
    client = redis_client()
    with client.pipeline() as pipe:
        for name in _keys(username, address):
            pipe.incr(name)
            pipe.expire(name, settings.LOGIN_FAILURE_WINDOW, nx=True)
        pipe.execute()
    logger.warning("admin login failed for %r from %s", username[:150], address)


def login_failures_clear(*, username: str) -> None:
    redis_client().delete(*_keys(username, "")[1:])


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


class LoginRateLimitMiddleware:
    """Applies the limit to the admin's login form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        username = request.POST.get("username", "")
        address = client_address(request)
        try:
            wait = login_retry_after(username=username, address=address)
        except redis.RedisError as exc:
            logger.error("login rate limit unavailable (Redis): %s", exc)
            return self.get_response(request)
        if wait:
            logger.warning("admin login refused for %r from %s: rate limited for %ss",
                           username[:150], address, wait)
            response = TemplateResponse(
                request, "admin/login_rate_limited.html",
                {"retry_after": wait, "minutes": (wait + 59) // 60,
                 "title": "Too many failed logins", "site_header": "arbsite"},
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response.render()
        response = self.get_response(request)
        try:
            if request.user.is_authenticated:
                login_failures_clear(username=username)
            elif response.status_code == 200:  # the form shown again: wrong credentials
                login_failure_record(username=username, address=address)
        except redis.RedisError as exc:
            logger.error("login rate limit unavailable (Redis): %s", exc)
        return response
