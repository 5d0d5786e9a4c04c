"""Balances per exchange, refreshed periodically and kept in Redis for
detection (which must not call an exchange on its hot path)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.types import Balance

logger = logging.getLogger(__name__)

BALANCES_TTL_SECONDS = 600


@dataclass(frozen=True)
class CachedBalances:
    exchange: str
    balances: dict[str, Balance]
    fetched_at: datetime

    def available(self, asset: str) -> Decimal:
        balance = self.balances.get(asset.upper())
        return balance.available if balance else Decimal("0")


def balances_store(exchange: str, balances: dict[str, Balance], *,
                   fetched_at: datetime | None = None) -> None:
    fetched_at = fetched_at or timezone.now()
    payload = {
        "fetched_at": fetched_at.isoformat(),
        "balances": {asset: [str(b.total), str(b.available), str(b.locked)]
                     for asset, b in balances.items()},
    }
    redis_client().set(key("balances", exchange), json.dumps(payload), ex=BALANCES_TTL_SECONDS)


def balances_latest(exchanges: list[str]) -> dict[str, CachedBalances]:
    """The cached balances of these exchanges (missing ones are absent)."""
    if not exchanges:
        return {}
    values = redis_client().mget([key("balances", name) for name in exchanges])
    result: dict[str, CachedBalances] = {}
    for name, text in zip(exchanges, values, strict=True):
        if not text:
            continue
        data = json.loads(text)
        result[name] = CachedBalances(
            exchange=name,
            balances={asset: Balance(asset, Decimal(t), Decimal(a), Decimal(locked))
                      for asset, (t, a, locked) in data["balances"].items()},
            fetched_at=datetime.fromisoformat(data["fetched_at"]),
        )
    return result
