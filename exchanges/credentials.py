"""When an exchange's API key expires, where the exchange documents a lifetime.

Wallex keys expire within 90 days [doc: Wallex API docs]; a Nobitex token
lasts 30 days at most ("remember me" / ``remember=yes``, 4 hours otherwise)
[doc: nobitex/docs-api ``auth.md``]; Invex documents none
(``exchanges.catalog``: ``api_key_lifetime``). The lifetime runs from when
the key was entered: ``Exchange.api_key_entered_at``, set when the admin
saves a new key, or when a key from the environment is first seen (the
daily rules task and ``setup`` look). The row keeps a fingerprint of the
key it dated (an HMAC under ``SECRET_KEY``, never the key), so a changed
key is noticed and dated afresh.

``api_key_expiry(exchange)`` is what an alert reads: the key's source, when
it was entered, its documented lifetime and so its expiry, or None for
what is not known.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from exchanges.catalog import EXCHANGES
from exchanges.models import Exchange
from exchanges.registry import api_key_in_use

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyExpiry:
    exchange: str
    source: str  # "admin", "environment", or "" (no key)
    entered_at: datetime | None  # None: not known (a key never dated here)
    lifetime: timedelta | None  # None: the exchange documents none
    doc: str  # where the lifetime is documented

    @property
    def expires_at(self) -> datetime | None:
        if self.entered_at is None or self.lifetime is None:
            return None
        return self.entered_at + self.lifetime

    def remaining(self, *, now: datetime | None = None) -> timedelta | None:
        expires = self.expires_at
        return None if expires is None else expires - (now or timezone.now())

    def describe(self, *, now: datetime | None = None) -> str:
        if not self.source:
            return "no API key"
        if self.lifetime is None:
            return f"key from the {self.source}: no lifetime documented"
        if self.entered_at is None:
            return (f"key from the {self.source}: entered at an unknown time; it lives "
                    f"{self.lifetime.days} days")
        left = self.remaining(now=now)
        state = (f"expired {-left.days} days ago" if left < timedelta(0)
                 else f"{left.days} days left")
        return (f"key from the {self.source}, entered {self.entered_at:%Y-%m-%d %H:%M} UTC; "
                f"expires {self.expires_at:%Y-%m-%d %H:%M} UTC ({state})")


def api_key_fingerprint(key: str) -> str:
    """A stable, non-reversible tag of ``key`` (empty for no key)."""
    if not key:
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()[:32]


def api_key_expiry(exchange: Exchange) -> KeyExpiry:
    """When this exchange's key in use expires, as far as is known (no query
    beyond the row's deferred credentials)."""
    defaults = EXCHANGES[exchange.adapter]
    key, source = api_key_in_use(exchange)
    dated = bool(key) and exchange.api_key_fingerprint == api_key_fingerprint(key)
    return KeyExpiry(
        exchange=exchange.name, source=source,
        entered_at=exchange.api_key_entered_at if dated else None,
        lifetime=defaults.api_key_lifetime, doc=defaults.api_key_lifetime_doc,
    )


def api_key_note(*, exchange: Exchange, entered_at: datetime | None = None) -> bool:
    """Date the key now in use if it is not the one the row dated: ``entered_at``
    (the admin's save) or now (first seen). Returns whether the row changed.
    Written with ``update()``: a fingerprint is no configuration change."""
    key, source = api_key_in_use(exchange)
    fingerprint = api_key_fingerprint(key)
    if fingerprint == exchange.api_key_fingerprint and (entered_at is None or not key):
        return False
    when = (entered_at or timezone.now()) if key else None
    Exchange.objects.filter(pk=exchange.pk).update(api_key_fingerprint=fingerprint,
                                                   api_key_entered_at=when)
    exchange.api_key_fingerprint, exchange.api_key_entered_at = fingerprint, when
    if key:
        logger.info("exchange %s: API key from the %s dated %s", exchange.name, source,
                    when.isoformat())
    return True
