"""Changing an exchange's base URL: the one way it changes after creation.

Credentials go wherever the base URL points, so a change is validated
(``exchanges.hosts``: https, or the sandbox), needs a reason, and a change
of *host* clears the credentials stored on the row: they were entered for
the old host and must be entered again for the new one. Credentials from
the environment are bound to the environment's host the same way (see
``environment_credentials_apply``): they are never sent to a host the admin
pointed the row at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from exchanges.catalog import EXCHANGES
from exchanges.hosts import base_url_problem, url_origin
from exchanges.models import Exchange

logger = logging.getLogger(__name__)


def configured_base_url(adapter: str) -> str:
    """The base URL a row with a blank one uses: the environment's
    (``NOBITEX_BASE_URL`` …, validated at start) or the real host."""
    names = EXCHANGES[adapter]
    return str(getattr(settings, names.base_url_env, "") or "").strip() or names.default_base_url


def effective_base_url(exchange: Exchange) -> str:
    """Where this row's calls (and credentials) go."""
    return (exchange.base_url or "").strip() or configured_base_url(exchange.adapter)


def environment_credentials_apply(exchange: Exchange) -> bool:
    """Whether the environment's credentials may be used for this row: only
    when its calls go to the environment's host."""
    return url_origin(effective_base_url(exchange)) == url_origin(
        configured_base_url(exchange.adapter))


def base_url_validate(base_url: str) -> str:
    """The base URL, stripped, or a ValidationError saying why it may not be one.
    Blank is allowed: the environment's URL or the real host then apply."""
    base_url = (base_url or "").strip()
    if not base_url:
        return ""
    problem = base_url_problem(base_url, sandbox_urls=settings.EXCHANGE_SANDBOX_URLS)
    if problem:
        raise ValidationError(problem)
    return base_url


@dataclass(frozen=True)
class BaseUrlChange:
    exchange: Exchange
    old_url: str  # effective, before
    new_url: str  # effective, after
    stored: str  # what the row holds after ("" = the environment's or the real host)
    had_credentials: bool

    @property
    def host_changed(self) -> bool:
        return url_origin(self.old_url) != url_origin(self.new_url)

    @property
    def clears_credentials(self) -> bool:
        return self.host_changed and self.had_credentials

    def describe(self) -> str:
        text = f"Base URL changed from {self.old_url} to {self.new_url}"
        if self.clears_credentials:
            text += (f"; the host changed, so the stored credentials were cleared: enter "
                     f"them again for {url_origin(self.new_url)}")
        elif self.host_changed:
            text += "; the host changed (no credentials were stored)"
        return text + "."


def base_url_change_preview(*, exchange: Exchange, base_url: str) -> BaseUrlChange:
    """What ``exchange_base_url_change`` would do, without doing it."""
    stored = base_url_validate(base_url)
    after = Exchange(adapter=exchange.adapter, base_url=stored)
    return BaseUrlChange(exchange=exchange, old_url=effective_base_url(exchange),
                         new_url=effective_base_url(after), stored=stored,
                         had_credentials=bool(exchange.api_key or exchange.api_secret))


def exchange_base_url_change(*, exchange_id: int, base_url: str, actor: str,
                             reason: str) -> BaseUrlChange:
    """Point the exchange at ``base_url``; a change of host clears its stored
    credentials. Raises ValidationError for a bad URL, no reason, or no change."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    with transaction.atomic():
        row = Exchange.objects.select_for_update().get(pk=exchange_id)
        change = base_url_change_preview(exchange=row, base_url=base_url)
        if change.stored == (row.base_url or "").strip():
            raise ValidationError(f"The base URL of {row.name} is already {change.new_url}.")
        row.base_url = change.stored
        if change.clears_credentials:
            row.api_key = row.api_secret = ""
        # Its history keeps a short line (100 characters at most); the full
        # text with the reason goes to the caller's audit entry and the log.
        row._change_reason = (f"base URL to {url_origin(change.new_url)}"
                              + ("; credentials cleared" if change.clears_credentials else "")
                              + f": {reason}")[:100]
        row.save()
    logger.warning("exchange %s: %s By %s: %s", row.name, change.describe(), actor, reason)
    return change
