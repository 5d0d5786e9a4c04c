"""Admin login throttling: django-axes, plus what it leaves to the project.

django-axes (``axes`` in INSTALLED_APPS, its backend and middleware, the
``AXES_*`` settings) counts failed logins in the database, per username and
per client address (``arbsite.client_address``), each failure an atomic
increment under a row lock, and refuses a login (HTTP 429) once either has
``LOGIN_FAILURE_LIMIT`` failures within ``LOGIN_FAILURE_WINDOW`` seconds. A
superuser unlocks by deleting the attempts in the admin (Axes › Access
attempts) or with ``manage.py axes_reset_username NAME``.

What axes does not do (jazzband/django-axes#592, "won't fix"): it reads the
count *before* checking the password and writes it *after*, so a burst of
parallel guesses is checked against the password before any of them is
counted. ``LoginSerializeMiddleware`` closes that: the login POSTs for one
username, or from one address, run one at a time, each in a transaction
that holds a PostgreSQL advisory lock on both (SQLite: the transaction's
write lock) until its failure is committed. The sixth guess therefore sees
five failures and is refused without its password being tried.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from arbsite.client_address import client_address

logger = logging.getLogger(__name__)


def login_username(request: HttpRequest | None, credentials: dict | None) -> str:
    """The username a login counts against: stripped, lower case, so that
    "Olga " and "olga" share one count (``AXES_USERNAME_CALLABLE``)."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = request.POST.get("username", "")
    return str(raw or "").strip().lower()[:150]


def login_failures(*, username: str | None = None, address: str | None = None) -> int:
    """Failed logins counted now against this username or this address."""
    from axes.models import AccessAttempt

    window = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
    attempts = AccessAttempt.objects.filter(attempt_time__gte=window)
    if username is not None:
        attempts = attempts.filter(username=username.strip().lower())
    if address is not None:
        attempts = attempts.filter(ip_address=address)
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


def lockout_response(request: HttpRequest, original_response=None,
                     credentials: dict | None = None) -> HttpResponse:
    """The page of a refused login (``AXES_LOCKOUT_CALLABLE``): 429 with Retry-After."""
    wait = int(settings.LOGIN_FAILURE_WINDOW)
    response = TemplateResponse(
        request, "admin/login_rate_limited.html",
        {"minutes": max(math.ceil(wait / 60), 1), "title": "Too many failed logins",
         "site_header": "arbsite"},
        status=429,
    )
    response["Retry-After"] = str(wait)
    logger.warning("admin login refused for %r from %s: too many failed logins",
                   login_username(request, credentials), client_address(request))
    return response.render()


def _lock_id(name: str) -> int:
    """A signed 64-bit advisory lock id for ``name``."""
    digest = hashlib.blake2b(f"arbsite:login:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _serialize(names: list[str]) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite: the open transaction already holds the write lock
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = %s",
                       [f"{int(settings.LOGIN_SERIALIZE_WAIT_SECONDS * 1000)}ms"])
        for lock_id in sorted({_lock_id(name) for name in names}):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


class LoginSerializeMiddleware:
    """Runs the admin login POSTs of one username, or from one address, one
    at a time (see the module docstring). Place it after the authentication
    middleware; axes' own middleware comes last."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        names = [f"user:{login_username(request, None)}",
                 f"addr:{client_address(request) or '-'}"]
        try:
            with transaction.atomic():
                _serialize(names)
                return self.get_response(request)
        except DatabaseError as exc:
            if connection.vendor == "postgresql" and "lock timeout" in str(exc).lower():
                logger.warning("admin login refused: another login for %s is still being "
                               "checked", names)
                return lockout_response(request)
            raise


def login_success_clear(sender, request: HttpRequest, user, **kwargs) -> None:
    """A successful login clears its username's failures (only those: an
    attacker's own account never clears the count of the address it shares)."""
    from axes.utils import reset

    reset(username=user.get_username().strip().lower())
