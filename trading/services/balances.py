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
from exchanges.states import LIVE_STATES as LIVE
from exchanges.types import Balance

logger = logging.getLogger(__name__)

BALANCES_TTL_SECONDS = 600
ZERO = Decimal("0")


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


def balances_committed(cached: dict[str, CachedBalances]) -> dict[str, CachedBalances]:
    """The cached balances as they stand now, for detection.

    Balances are read every few seconds (Nobitex allows 20 reads per two
    minutes); between reads, detection must not plan with money already
    committed. An exchange's "available" excludes what its open orders
    block, so from each read on:

    - an order placed after the read blocks its whole cost (a buy: quantity
      × price × (1 + taker fee) of the quote; a sell: its quantity of the
      base) while live; once final, what its fills spent;
    - every fill executed after the read brings in what it bought or sold for, less
      its fee;
    - an opportunity detected but not yet written as orders holds both legs.
    """
    if not cached:
        return cached
    return balances_apply(cached, balances_committed_delta(cached))


def balances_committed_delta(cached: dict[str, CachedBalances]) -> dict[tuple[str, str], Decimal]:
    """(exchange, asset) → what moved since each read (``balances_committed``'s
    reads, without applying them): a function of the database and the reads'
    times only, so the fast path keeps it (``decision_cache``)."""
    if not cached:
        return {}
    from trading.models import Opportunity, OpportunityStatus, Order, Trade
    from trading.pnl import fee_paid_in

    delta: dict[tuple[str, str], Decimal] = {}

    def move(exchange: str, asset: str, amount: Decimal) -> None:
        delta[(exchange, asset)] = delta.get((exchange, asset), ZERO) + amount

    names = list(cached)
    oldest = min(c.fetched_at for c in cached.values())
    # A fill executed before the read is in what the exchange answered (and
    # executed_at is indexed: this stays cheap over years of fills).
    for t in (Trade.objects.filter(exchange__name__in=names, executed_at__gt=oldest)
              .values("exchange__name", "market__base", "market__quote", "side", "quantity",
                      "quote_amount", "fee", "fee_asset", "executed_at", "order__created_at",
                      "order__status")):
        name, read_at = t["exchange__name"], cached[t["exchange__name"]].fetched_at
        if t["executed_at"] <= read_at:
            continue  # the read already saw it
        base, quote, fee = t["market__base"], t["market__quote"], t["fee"]
        fee_in_base = fee_paid_in(fee_asset=t["fee_asset"], base=base, quote=quote) == "base"
        spent_by_order_after_read = (t["order__created_at"] is not None
                                     and t["order__created_at"] > read_at
                                     and t["order__status"] not in LIVE)
        if t["side"] == "buy":
            move(name, base, t["quantity"] - (fee if fee_in_base else ZERO))
            if spent_by_order_after_read:
                move(name, quote, -t["quote_amount"] - (ZERO if fee_in_base else fee))
        else:
            move(name, quote, t["quote_amount"] - (ZERO if fee_in_base else fee))
            if spent_by_order_after_read:
                move(name, base, -t["quantity"] - (fee if fee_in_base else ZERO))
    for o in (Order.objects.filter(exchange__name__in=names, status__in=LIVE,
                                   created_at__gt=oldest)
              .values("exchange__name", "market__base", "market__quote", "side", "quantity",
                      "price", "created_at", "exchange__taker_fee")):
        if o["created_at"] <= cached[o["exchange__name"]].fetched_at:
            continue  # blocked on the exchange when it was read
        if o["side"] == "buy":
            cost = o["quantity"] * (o["price"] or ZERO) * (1 + o["exchange__taker_fee"])
            move(o["exchange__name"], o["market__quote"], -cost)
        else:
            move(o["exchange__name"], o["market__base"], -o["quantity"])
    for p in (Opportunity.objects.filter(status=OpportunityStatus.DETECTED, orders__isnull=True)
              .values("buy_exchange__name", "sell_exchange__name", "market__base",
                      "market__quote", "quantity", "buy_price", "buy_fee_rate")):
        if p["buy_exchange__name"] in cached:
            move(p["buy_exchange__name"], p["market__quote"],
                 -p["quantity"] * p["buy_price"] * (1 + p["buy_fee_rate"]))
        if p["sell_exchange__name"] in cached:
            move(p["sell_exchange__name"], p["market__base"], -p["quantity"])
    return delta


def balances_apply(cached: dict[str, CachedBalances], delta: dict[tuple[str, str], Decimal]
                   ) -> dict[str, CachedBalances]:
    """The cached balances with ``delta`` added to what is available."""
    if not delta:
        return cached
    result = {}
    for name, entry in cached.items():
        balances = dict(entry.balances)
        for (exchange, asset), amount in delta.items():
            if exchange == name:
                old = balances.get(asset) or Balance(asset, ZERO, ZERO, ZERO)
                balances[asset] = Balance(asset, old.total, old.available + amount, old.locked)
        result[name] = CachedBalances(name, balances, entry.fetched_at)
    return result
