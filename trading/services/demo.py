"""A realistic trading history for the reports (``python manage.py seed_demo``).

Opportunities spread over the last ``days`` trading days on BTC, ETH and
USDT against the rial and BTC, ETH against USDT, each with two entry legs on
two exchanges; fees in the base asset on buys and in the quote asset on sells
(as the sandbox charges them); about 4% partially filled, 5% unwound and 4%
failed. Realized P&L follows ``trading.pnl`` (as settlement computes it).
Past days get their closed DailyRiskSnapshot from
``trading.services.snapshots.day_figures`` and their report rollup, as the
beat would have left them.

Rows go in with PostgreSQL's COPY (or a raw INSERT elsewhere) in batches,
with ids reserved up front. Demo rows are marked (client order ids starting
``demo-``, ``details.demo``) so ``reset`` removes only them. Order events
are not generated: the demo history has no audit trail.

A demo never touches live trading:

- its rows carry their own moments (created, updated, executed), all before
  today's trading day: today's P&L, the daily loss limit and today's
  snapshot are never moved by it;
- it adds and enables no market: it uses the exchanges and markets of its
  list that exist, as they are, and creates those missing *disabled*
  (never polled nor traded), with no listing;
- it refuses while the system is trading (``demo_trading_blocker``: the
  worker's or beat's heartbeat fresh, the kill switch off and an exchange
  trading), unless told it writes to a database of its own
  (``separate_database``: the bench's throw-away databases).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from exchanges.catalog import EXCHANGES as EXCHANGE_DEFAULTS
from exchanges.models import Exchange, Market
from trading.models import DailyRiskSnapshot, Opportunity, Order, OrderEvent, RiskSettings, Trade
from trading.pnl import fee_value
from trading.reports.rollups import report_rollup_write, report_rollups_delete
from trading.services.heartbeat import heartbeat_fresh
from trading.services.snapshots import day_figures
from trading.tradingday import trading_day, trading_tz

logger = logging.getLogger(__name__)

EXCHANGES = ["nobitex", "wallex", "invex"]
MARKETS = ["BTC-IRR", "ETH-IRR", "USDT-IRR", "BTC-USDT", "ETH-USDT"]
# Relative frequency of each market's opportunities.
WEIGHTS = [30, 20, 25, 15, 10]
# USD prices at the start and end of the year; USDT in rial likewise.
USD_PRICE = {"BTC": (Decimal("60000"), Decimal("95000")), "ETH": (Decimal("2400"), Decimal("3600")),
             "USDT": (Decimal("1"), Decimal("1"))}
USDT_IRR = (Decimal("600000"), Decimal("950000"))
SIZE = {"BTC": (1, 500, Decimal("0.0001")), "ETH": (1, 300, Decimal("0.003")),
        "USDT": (20, 2000, Decimal("1"))}  # (min steps, max steps, step)
PRICE_STEP = {"IRR": Decimal("1"), "USDT": Decimal("0.01")}
FEE_STEP = {"IRR": Decimal("1"), "USDT": Decimal("0.0001")}
BASE_FEE_STEP = Decimal("0.00000001")
FEE_RATES = {"nobitex": Decimal("0.0025"), "wallex": Decimal("0.0020"), "invex": Decimal("0.0022")}
BATCH_OPPORTUNITIES = 20_000
ZERO = Decimal("0")


@dataclass(frozen=True)
class DemoReport:
    opportunities: int
    orders: int
    trades: int
    snapshots: int
    first_day: date | None
    last_day: date | None


def _reserve_ids(model: type[models.Model], count: int) -> int:
    """The first of ``count`` consecutive free ids for ``model`` (on
    PostgreSQL its sequence moves past them, so other writers skip them)."""
    first = (model.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                           [model._meta.db_table, first + count - 1])
    return first


def _insert(model: type[models.Model], rows: list[dict]) -> None:
    """Insert plain rows (attname → value) as they are: COPY on PostgreSQL, a
    raw INSERT elsewhere (``bulk_create`` would stamp ``auto_now`` and
    ``auto_now_add`` fields with the present moment, not the row's own)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        fields = list(model._meta.concrete_fields)
        objs = [model(**row) for row in rows]
        for start in range(0, len(objs), 500):
            model._base_manager._insert(objs[start:start + 500], fields=fields, raw=True)
        return
    from psycopg.types.json import Jsonb

    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {table} ({columns}) FROM STDIN"
    ) as copy:
        for row in rows:
            values = []
            for f in fields:
                value = row.get(f.attname, defaults[f.attname])
                values.append(Jsonb(value) if f.attname in json_fields else value)
            copy.write_row(values)


class _History:
    """Generates the rows of one batch of demo opportunities."""

    def __init__(self, *, rng: random.Random, start: datetime, end: datetime,
                 exchanges: dict[str, Exchange], markets: dict[str, Market]) -> None:
        self.rng, self.start, self.end = rng, start, end
        self.seconds = int((end - start).total_seconds())
        self.exchanges, self.markets = exchanges, markets
        self.codes = list(markets)

    def _usd(self, asset: str, progress: Decimal) -> Decimal:
        low, high = USD_PRICE[asset]
        return low + (high - low) * progress

    def mid_price(self, market: Market, progress: Decimal) -> Decimal:
        """A drifting price, wobbling a few percent around the trend."""
        wobble = Decimal(1) + Decimal(self.rng.randint(-300, 300)) / Decimal(10_000)
        usd = self._usd(market.base, progress) * wobble
        if market.quote == "IRR":
            usdt_irr = USDT_IRR[0] + (USDT_IRR[1] - USDT_IRR[0]) * progress
            return usd * usdt_irr
        return usd

    def opportunity(self, ids: dict[str, int]) -> tuple[dict, list[dict], list[dict]]:
        rng = self.rng
        code = rng.choices(self.codes, weights=WEIGHTS[:len(self.codes)])[0]
        market = self.markets[code]
        buy_name, sell_name = rng.sample(EXCHANGES, 2)
        buy_ex, sell_ex = self.exchanges[buy_name], self.exchanges[sell_name]
        offset = rng.randrange(self.seconds)
        created = self.start + timedelta(seconds=offset)
        progress = Decimal(offset) / Decimal(self.seconds)
        tick = PRICE_STEP[market.quote]
        mid = self.mid_price(market, progress)
        # Both taker fees cost about 45 bp: most spreads pay, some do not.
        spread = Decimal(rng.randint(25, 110)) / Decimal(10_000)
        buy_price = (mid * (1 - spread / 2)).quantize(tick)
        sell_price = (mid * (1 + spread / 2)).quantize(tick)
        low, high, step = SIZE[market.base]
        quantity = step * rng.randint(low, high)
        buy_rate, sell_rate = FEE_RATES[buy_name], FEE_RATES[sell_name]
        roll = rng.random()
        status = ("failed" if roll < 0.04 else "unwound" if roll < 0.09
                  else "partial" if roll < 0.13 else "done")
        opp_id = ids["opportunity"]
        ids["opportunity"] += 1
        expected = (sell_price * (1 - sell_rate) - buy_price * (1 + buy_rate)) * quantity
        closed_at = created + timedelta(seconds=rng.randint(1, 20))
        opportunity = {
            "id": opp_id, "market_id": market.pk, "buy_exchange_id": buy_ex.pk,
            "sell_exchange_id": sell_ex.pk, "status": status, "reason": "",
            "quote_asset": market.quote, "quantity": quantity, "buy_price": buy_price,
            "sell_price": sell_price, "buy_vwap": buy_price, "sell_vwap": sell_price,
            "buy_fee_rate": buy_rate, "sell_fee_rate": sell_rate,
            "expected_profit": expected.quantize(FEE_STEP[market.quote]),
            "expected_profit_pct": (spread * 100).quantize(Decimal("0.000001")),
            "buy_book_age_ms": rng.randint(50, 900), "sell_book_age_ms": rng.randint(50, 900),
            "details": {"demo": True}, "created_at": created, "executed_at": created,
            "closed_at": closed_at, "realized_pnl": ZERO,
        }
        # (exchange, side, purpose, ordered, filled, price)
        if status == "failed":
            legs = [(buy_ex, "buy", "entry", quantity, ZERO, buy_price),
                    (sell_ex, "sell", "entry", quantity, ZERO, sell_price)]
            opportunity["reason"] = "both legs rejected: insufficient balance"
        elif status == "done":
            legs = [(buy_ex, "buy", "entry", quantity, quantity, buy_price),
                    (sell_ex, "sell", "entry", quantity, quantity, sell_price)]
        else:
            part = (quantity * Decimal(rng.randint(20, 80)) / 100).quantize(step, ROUND_DOWN)
            part = max(part, step) if part < quantity else quantity - step
            if status == "partial":  # both legs filled alike: smaller, still matched
                legs = [(buy_ex, "buy", "entry", quantity, part, buy_price),
                        (sell_ex, "sell", "entry", quantity, part, sell_price)]
            else:
                legs = [(buy_ex, "buy", "entry", quantity, quantity, buy_price),
                        (sell_ex, "sell", "entry", quantity, part, sell_price)]
            if status == "unwound":
                moved = Decimal(1) - Decimal(rng.randint(5, 60)) / Decimal(10_000)
                legs.append((buy_ex, "sell", "unwind", quantity - part, quantity - part,
                             (buy_price * moved).quantize(tick)))
                opportunity["reason"] = f"sell on {sell_name}: cancelled after partial fill"
            else:
                opportunity["reason"] = "both legs cancelled after a partial fill"
        orders, trades, pnl = [], [], ZERO
        for exchange, side, purpose, ordered, filled, price in legs:
            order_id = ids["order"]
            ids["order"] += 1
            rate = FEE_RATES[exchange.name]
            if side == "buy":  # fee in the base asset
                fee, fee_asset = (filled * rate).quantize(BASE_FEE_STEP, ROUND_HALF_EVEN), \
                    market.base
            else:  # fee in the quote asset
                fee = (filled * price * rate).quantize(FEE_STEP[market.quote], ROUND_HALF_EVEN)
                fee_asset = market.quote
            valued = fee_value(fee=fee, fee_times_price=fee * price, fee_asset=fee_asset,
                               base=market.base, quote=market.quote)
            executed = created + timedelta(milliseconds=rng.randint(100, 900))
            orders.append({
                "id": order_id, "opportunity_id": opp_id, "exchange_id": exchange.pk,
                "market_id": market.pk, "client_order_id": f"demo-{uuid.uuid4().hex}"[:32],
                "exchange_order_id": f"demo-{order_id}", "purpose": purpose, "side": side,
                "order_type": "limit", "quantity": ordered, "price": price,
                "status": "filled" if filled == ordered else ("cancelled" if filled
                                                              else "rejected"),
                "filled_quantity": filled, "average_price": price if filled else None,
                "fee": fee if filled else ZERO, "fee_asset": fee_asset if filled else "",
                "status_reason": "", "is_external": False, "not_found_since": None,
                "notes": "", "created_at": created, "submitted_at": created,
                "last_synced_at": closed_at, "updated_at": closed_at, "tags": "",
            })
            if not filled:
                continue
            quote_amount = filled * price
            pnl += quote_amount if side == "sell" else -quote_amount
            pnl -= valued or ZERO
            trades.append({
                "id": ids["trade"], "exchange_id": exchange.pk, "order_id": order_id,
                "market_id": market.pk, "exchange_trade_id": f"demo-{order_id}-1",
                "side": side, "price": price, "quantity": filled, "quote_amount": quote_amount,
                "fee": fee, "fee_asset": fee_asset, "executed_at": executed,
                "created_at": executed,
            })
            ids["trade"] += 1
        opportunity["realized_pnl"] = pnl
        return opportunity, orders, trades


def demo_reset() -> int:
    """Delete the demo rows (and only them); return how many opportunities went.
    Report rollups, being derived from them, go too (those days read live
    until written again)."""
    demo_orders = Order.objects.filter(client_order_id__startswith="demo-")
    with transaction.atomic():
        report_rollups_delete()
        Trade.objects.filter(order__in=demo_orders).delete()
        OrderEvent.objects.filter(order__in=demo_orders).delete()
        opportunities = Opportunity.objects.filter(details__demo=True)
        demo_orders.delete()
        count, _ = opportunities.delete()
    return count


class DemoRefused(ValueError):
    """The demo would race live trading: nothing was written."""


def demo_trading_blocker() -> str | None:
    """Why a demo may not be written into this database now (the system is
    trading), or None."""
    ages = {role: heartbeat_fresh(role=role) for role in ("worker", "beat")}
    running = {role: age for role, age in ages.items() if age is not None}
    if not running:
        return None
    if RiskSettings.load().kill_switch:
        return None
    trading = sorted(Exchange.objects.filter(enabled=True, trading_enabled=True)
                     .values_list("name", flat=True))
    if not trading:
        return None
    beats = ", ".join(f"{role} heartbeat {age:.0f} s ago" for role, age in running.items())
    return (f"the system is trading ({beats}; kill switch off; trading on "
            f"{', '.join(trading)}): a demo history written now would race it. Stop it "
            "(Ctrl-C in ./run.sh) or turn the kill switch on (control panel), then run "
            "seed_demo again. Nothing was written.")


def _demo_venues(say: Callable[[str], None]) -> tuple[dict[str, Exchange], dict[str, Market]]:
    """The demo's exchanges and markets: those that exist, as they are; those
    missing created disabled (never polled nor traded; no listing)."""
    exchanges = {e.name: e for e in Exchange.objects.filter(name__in=EXCHANGES)}
    for name in EXCHANGES:
        if name not in exchanges:
            defaults = EXCHANGE_DEFAULTS[name]
            exchanges[name] = Exchange.objects.create(
                name=name, adapter=defaults.adapter, taker_fee=defaults.taker_fee,
                maker_fee=defaults.maker_fee, enabled=False, trading_enabled=False)
            say(f"exchange {name} created disabled (demo history only: enable it in the "
                "admin to trade there)")
    markets = {m.code: m for m in Market.objects.all() if m.code in MARKETS}
    for code in MARKETS:
        if code not in markets:
            base, quote = code.split("-")
            markets[code] = Market.objects.create(base=base, quote=quote, enabled=False)
            say(f"market {code} created disabled (demo history only)")
    return exchanges, markets


def demo_seed(*, trades: int = 5000, days: int = 365, seed: int = 7, reset: bool = False,
              now: datetime | None = None, separate_database: bool = False,
              progress: Callable[[str], None] | None = None) -> DemoReport:
    """Write ``trades`` fills (up to two more, to finish the last opportunity)
    of demo history over the ``days`` trading days before today, then close
    those days' snapshots. Refused (``DemoRefused``, nothing written) while
    the system is trading, unless ``separate_database`` (a database no live
    system uses)."""
    if trades < 1 or days < 1:
        raise ValueError("trades and days must be positive")
    if not separate_database and (blocker := demo_trading_blocker()) is not None:
        raise DemoRefused(blocker)
    say = progress or (lambda message: None)
    now = now or timezone.now()
    if reset:
        say(f"removed {demo_reset()} demo opportunities")
    with transaction.atomic():
        exchanges, markets = _demo_venues(say)
    today = trading_day(now)
    first_day = today - timedelta(days=days)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=trading_tz())
    # The history ends before today: today's figures (and the daily loss
    # limit) are live trading's alone.
    end = datetime.combine(today, datetime.min.time(), tzinfo=trading_tz()) - timedelta(
        minutes=1)
    history = _History(rng=random.Random(seed), start=start, end=end,
                       exchanges=exchanges, markets=markets)
    order_fields = {f.attname for f in Order._meta.concrete_fields}
    written = {"opportunities": 0, "orders": 0, "trades": 0}
    while written["trades"] < trades:
        # Ids reserved per batch (at most 3 orders and 3 fills per opportunity).
        ids = {"opportunity": _reserve_ids(Opportunity, BATCH_OPPORTUNITIES),
               "order": _reserve_ids(Order, 3 * BATCH_OPPORTUNITIES),
               "trade": _reserve_ids(Trade, 3 * BATCH_OPPORTUNITIES)}
        opps, orders, fills = [], [], []
        while len(opps) < BATCH_OPPORTUNITIES and written["trades"] + len(fills) < trades:
            opp, opp_orders, opp_trades = history.opportunity(ids)
            opps.append(opp)
            orders.extend({k: v for k, v in o.items() if k in order_fields} for o in opp_orders)
            fills.extend(opp_trades)
        with transaction.atomic():
            _insert(Opportunity, opps)
            _insert(Order, orders)
            _insert(Trade, fills)
        written["opportunities"] += len(opps)
        written["orders"] += len(orders)
        written["trades"] += len(fills)
        say(f"{written['trades']:,} / {trades:,} fills written")
    _fix_sequences()
    snapshots = demo_snapshots_close(first=first_day, last=today - timedelta(days=1))
    say(f"{snapshots} closed daily snapshots")
    return DemoReport(written["opportunities"], written["orders"], written["trades"], snapshots,
                      first_day, today - timedelta(days=1))


def _fix_sequences() -> None:
    """Sequences continue right after the highest id (unused reserved ids freed)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Opportunity, Order, Trade):
            top = model.objects.aggregate(top=Max("id"))["top"] or 1
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                           [model._meta.db_table, top])


def demo_snapshots_close(*, first: date, last: date) -> int:
    """Closed snapshots for ``first`` … ``last`` from ``day_figures``, each
    with its report rollup."""
    count, day = 0, first
    while day <= last:
        with transaction.atomic():
            DailyRiskSnapshot.objects.update_or_create(
                day=day, defaults={**day_figures(day), "closed": True,
                                   "timezone": str(trading_tz())})
            report_rollup_write(day=day)
        count += 1
        day += timedelta(days=1)
    return count
