"""Sliding-window rate limits per (exchange, API key or client address, endpoint group).

Nobitex's numbers are its documented ones (each endpoint's "محدودیت فراخوانی" line in
``nobitex/docs-api``); Wallex documents only order placement (20 per 10 s); Invex says
"strict" and gives no number. Where nothing is documented the sandbox picks conservative
numbers, listed in WIRE.md as *(chosen)*.

Nobitex also blocks a token for 2 minutes on every endpoint when it keeps ignoring the
limit (``_general_notes.md``, "محدودیت فراخوانی"): here, 20 answers of 429 within a
minute *(chosen)* block the key for 120 s.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

# exchange -> group -> (requests, window seconds)
LIMITS: dict[str, dict[str, tuple[int, float]]] = {
    "nobitex": {
        "orderbook": (300, 60), "place": (300, 600), "status": (300, 60),
        "list": (30, 60), "cancel": (90, 60), "cancel_old": (30, 60), "trades": (30, 60),
        "wallets": (20, 120), "wallet_balance": (60, 120), "wallets_v2": (15, 60),
        "options": (60, 60), "profile": (30, 60),
    },
    "wallex": {
        "depth": (300, 60), "markets": (60, 60), "place": (20, 10), "status": (300, 60),
        "cancel": (120, 60), "open_orders": (60, 60), "history": (60, 60),
        "balances": (60, 60), "fee": (60, 60), "trades": (60, 60),
    },
    "invex": {
        "depth": (300, 60), "markets": (60, 60), "place": (120, 60), "status": (300, 60),
        "search": (60, 60), "cancel": (120, 60), "accounts": (120, 60),
    },
}

# exchange -> (429s within window that block the key, window s, block s)
PENALTIES: dict[str, tuple[int, float, float]] = {"nobitex": (20, 60.0, 120.0)}


@dataclass(frozen=True)
class Verdict:
    """What the limiter decided for one request."""

    allowed: bool
    limit: int = 0
    remaining: int = 0
    back_off: int = 0  # seconds to wait, when refused
    blocked: bool = False  # refused because the key is blocked for ignoring the limit


class RateLimiter:
    """Counts requests in a sliding window; answers how long to back off when over."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str, str], deque[float]] = {}
        self._refusals: dict[tuple[str, str], deque[float]] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}

    def check(self, exchange: str, group: str, who: str) -> Verdict:
        """Allowed (and counted) or refused with a back-off."""
        limit = LIMITS.get(exchange, {}).get(group)
        if not self.enabled or limit is None:
            return Verdict(True)
        count, window = limit
        now = time.monotonic()
        with self._lock:
            until = self._blocked_until.get((exchange, who), 0.0)
            if until > now:
                return Verdict(False, count, 0, max(1, math.ceil(until - now)), blocked=True)
            hits = self._hits.setdefault((exchange, group, who), deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= count:
                self._penalise(exchange, who, now)
                return Verdict(False, count, 0, max(1, math.ceil(hits[0] + window - now)))
            hits.append(now)
            return Verdict(True, count, count - len(hits))

    def _penalise(self, exchange: str, who: str, now: float) -> None:
        penalty = PENALTIES.get(exchange)
        if penalty is None:
            return
        threshold, window, block = penalty
        refusals = self._refusals.setdefault((exchange, who), deque())
        while refusals and refusals[0] <= now - window:
            refusals.popleft()
        refusals.append(now)
        if len(refusals) >= threshold:
            self._blocked_until[(exchange, who)] = now + block
            refusals.clear()

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._refusals.clear()
            self._blocked_until.clear()
