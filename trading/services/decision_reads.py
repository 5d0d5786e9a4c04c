"""The decision reads the fast path keeps (``decision_cache``): the risk check
and what was committed since each balance read, by the versions they depend on."""

from __future__ import annotations

from datetime import datetime

from trading.services import risk
from trading.services.balances import (
    CachedBalances,
    balances_apply,
    balances_committed_delta,
)
from trading.services.decision_cache import Versions, cached
from trading.services.risk import RiskCheck
from trading.tradingday import trading_day


def risk_check_cached(*, versions: Versions, quote_assets: list[str], at: datetime | None = None
                      ) -> RiskCheck:
    """``risk.risk_check``, kept while the settings and today's P&L are unchanged
    (and within the trading day)."""
    quotes = tuple(sorted(set(quote_assets)))
    return cached(f"risk:{','.join(quotes)}", (versions.config, versions.pnl, trading_day(at)),
                  lambda: risk.risk_check(quote_assets=quotes, at=at))


def balances_committed_cached(*, versions: Versions, cached_balances: dict[str, CachedBalances]
                              ) -> dict[str, CachedBalances]:
    """``balances.balances_committed``: what was committed since each read is
    kept while orders, fills and opportunities are unchanged and the reads are
    the same ones."""
    reads = tuple(sorted((name, entry.fetched_at) for name, entry in cached_balances.items()))
    delta = cached("committed", (versions.state, reads),
                   lambda: balances_committed_delta(cached_balances))
    return balances_apply(cached_balances, delta)
