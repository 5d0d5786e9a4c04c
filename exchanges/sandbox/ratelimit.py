"""Sliding-window rate limits per (exchange, API key or client address, endpoint group).

Nobitex's numbers are its documented ones; Wallex and Invex publish none, so the sandbox
picks conservative ones (listed in WIRE.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

# exchange -> group -> (requests, window seconds)
LIMITS: dict[str, dict[str, tuple[int, float]]] = {
    "nobitex": {
        "orderbook": (300, 60), "place": (300, 600), "status": (300, 60),
        "list": (30, 60), "cancel": (90, 60), "wallets": (20, 120), "trades": (30, 60),
        "options": (60, 60),
    },
    "wallex": {
        "depth": (300, 60), "markets": (60, 60), "place": (120, 60), "status": (300, 60),
        "cancel": (120, 60), "open_orders": (60, 60), "balances": (60, 60), "fee": (60, 60),
        "trades": (60, 60),
    },
    "invex": {
        "depth": (300, 60), "markets": (60, 60), "place": (120, 60), "status": (300, 60),
        "search": (60, 60), "cancel": (120, 60), "accounts": (120, 60),
    },
}


class RateLimiter:
    """Counts requests in a sliding window; answers how long to back off when over."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str, str], deque[float]] = {}

    def check(self, exchange: str, group: str, who: str) -> tuple[int, int] | None:
        """None if allowed (and counted); else (back-off seconds, limit)."""
        if not self.enabled:
            return None
        limit = LIMITS.get(exchange, {}).get(group)
        if limit is None:
            return None
        count, window = limit
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault((exchange, group, who), deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= count:
                return max(1, math.ceil(hits[0] + window - now)), count
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
