"""Capital budgets per exchange and the exchange-down mode.

- **Value held** on an exchange: every asset of its latest balances (the
  cached read; the last ledger check's balances when the cache has
  expired, as it does while an exchange is down) valued in rial at the
  latest prices: the mid of the freshest IRR book of the asset on any
  exchange, through USDT-IRR for USDT-quoted assets, else the last fill.
- **In open orders**: the unfilled part of every live order there, at its
  limit price, in rial.
- A trade is refused on an exchange that is in exchange-down mode, whose
  value held is at or over its budget (a trade only converts between
  assets on the same exchange: it cannot bring the value down, and the
  capital there is already more than the operator allows), or whose open
  orders with the new leg would exceed their budget. Detection refuses
  such pairs (rejection ``capital_budget`` / ``exchange_down``) before a
  market's best pair is chosen, so another pair may trade; execution
  checks again and refuses with the reason on the opportunity and an
  alert, in the claim's transaction.
- **Exchange-down mode** is the active ``exchange_down`` alert: raised by
  the periodic check after ``exchange_down_minutes`` without a good
  answer, resolved by it once the exchange answers again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from statistics import median
from typing import Any

from django.db.models import F, Sum
from django.utils import timezone

from exchanges.models import Exchange, Market
from exchanges.states import LIVE_STATES
from trading.alerts.kinds import AlertKind
from trading.alerts.models import ACTIVE_STATES, Alert
from trading.capital.models import CapitalBudget, LedgerCheck

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
IRR = "IRR"


def exchanges_down() -> set[str]:
    """Names of the exchanges in exchange-down mode."""
    return {subject.removeprefix("exchange:") for subject in
            Alert.objects.filter(kind=AlertKind.EXCHANGE_DOWN, state__in=ACTIVE_STATES)
            .values_list("subject", flat=True)}


def prices_irr(*, books: dict | None = None) -> dict[str, Decimal]:
    """Rial per unit of each asset at the latest prices (IRR is 1)."""
    from trading.models import Trade
    from trading.services.books import books_latest

    books = books if books is not None else books_latest()
    mids: dict[tuple[str, str], list[Decimal]] = {}
    for (_exchange, market), cached in books.items():
        book = cached.book
        if not book.bids or not book.asks:
            continue
        base, _, quote = market.partition("-")
        mids.setdefault((base, quote), []).append((book.bids[0].price + book.asks[0].price) / 2)
    prices: dict[str, Decimal] = {IRR: Decimal("1")}
    for (base, quote), values in mids.items():
        if quote == IRR:
            prices[base] = median(values)
    for (base, quote), values in mids.items():
        if quote != IRR and base not in prices and quote in prices:
            prices[base] = median(values) * prices[quote]
    # Assets with no book now: the price of their last fill against rial.
    for base in sorted(set(Market.objects.filter(quote=IRR).values_list("base", flat=True))
                       - set(prices)):
        last = (Trade.objects.filter(market__quote=IRR, market__base=base)
                .order_by("-executed_at").values_list("price", flat=True).first())
        if last is not None:
            prices[base] = last
    return prices


@dataclass
class ExchangeCapital:
    exchange: str
    pk: int
    held_irr: Decimal | None
    held_source: str  # balances | ledger | none
    held_at: datetime | None
    unpriced: list[str]
    open_orders_irr: Decimal
    max_value_irr: Decimal | None
    max_open_orders_irr: Decimal | None
    down: bool
    down_since: datetime | None = None
    assets: dict[str, Decimal] = field(default_factory=dict)

    @property
    def at_risk_irr(self) -> Decimal | None:
        return self.held_irr if self.down else None

    @property
    def over_value(self) -> bool:
        return (self.max_value_irr is not None and self.held_irr is not None
                and self.held_irr >= self.max_value_irr)


def _open_orders_irr(prices: dict[str, Decimal]) -> dict[int, Decimal]:
    from trading.models import Order

    totals: dict[int, Decimal] = {}
    rows = (Order.objects.filter(status__in=LIVE_STATES, price__isnull=False)
            .values("exchange_id", "market__quote")
            .annotate(value=Sum((F("quantity") - F("filled_quantity")) * F("price"))))
    for row in rows:
        rate = prices.get(row["market__quote"])
        if rate is None:
            continue
        value = (row["value"] or ZERO) * rate
        totals[row["exchange_id"]] = totals.get(row["exchange_id"], ZERO) + value
    return totals


def _balances_of(exchanges: list[Exchange]) -> dict[str, tuple[dict[str, Decimal], datetime, str]]:
    from trading.services.balances import balances_latest

    try:
        cached = balances_latest([e.name for e in exchanges])
    except Exception as exc:  # Redis down: fall back to the ledger's last read
        logger.warning("capital: cached balances unavailable: %s", exc)
        cached = {}
    result = {name: ({a: b.total for a, b in c.balances.items()}, c.fetched_at, "balances")
              for name, c in cached.items()}
    for exchange in exchanges:
        if exchange.name in result:
            continue
        last = LedgerCheck.objects.filter(exchange=exchange).order_by("-checked_at").first()
        if last is None:
            continue
        rows = LedgerCheck.objects.filter(exchange=exchange, checked_at=last.checked_at)
        result[exchange.name] = ({r.asset: r.actual for r in rows}, last.checked_at, "ledger")
    return result


def exchange_capital(*, exchanges: list[Exchange] | None = None,
                     prices: dict[str, Decimal] | None = None) -> list[ExchangeCapital]:
    """Value held, in open orders, budgets and down mode of each exchange."""
    exchanges = exchanges if exchanges is not None else list(
        Exchange.objects.defer("api_key", "api_secret").order_by("name"))
    prices = prices if prices is not None else prices_irr()
    budgets = {b.exchange_id: b for b in CapitalBudget.objects.all()}
    open_orders = _open_orders_irr(prices)
    down = {a.subject.removeprefix("exchange:"): a.first_seen_at for a in Alert.objects.filter(
        kind=AlertKind.EXCHANGE_DOWN, state__in=ACTIVE_STATES)}
    balances = _balances_of(exchanges)
    result = []
    for exchange in exchanges:
        assets, at, source = balances.get(exchange.name, ({}, None, "none"))
        held, unpriced = None, []
        if source != "none":
            held = ZERO
            for asset, amount in assets.items():
                if not amount:
                    continue
                if asset in prices:
                    held += amount * prices[asset]
                else:
                    unpriced.append(asset)
        budget = budgets.get(exchange.pk)
        result.append(ExchangeCapital(
            exchange=exchange.name, pk=exchange.pk, held_irr=held, held_source=source,
            held_at=at, unpriced=unpriced, open_orders_irr=open_orders.get(exchange.pk, ZERO),
            max_value_irr=budget.max_value_irr if budget else None,
            max_open_orders_irr=budget.max_open_orders_irr if budget else None,
            down=exchange.name in down, down_since=down.get(exchange.name), assets=assets))
    return result


def _fmt(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1')):,}"


def capital_blocker(capital: ExchangeCapital, *, leg_value_irr: Decimal | None) -> str | None:
    """Why a new leg of this value may not go to this exchange, or None."""
    if capital.down:
        return f"{capital.exchange} is in exchange-down mode"
    if capital.over_value:
        return (f"{capital.exchange} holds {_fmt(capital.held_irr)} IRR, at or over its "
                f"budget of {_fmt(capital.max_value_irr)} IRR")
    if capital.max_open_orders_irr is not None and leg_value_irr is not None:
        after = capital.open_orders_irr + leg_value_irr
        if after > capital.max_open_orders_irr:
            return (f"{capital.exchange}: open orders would reach {_fmt(after)} IRR, over "
                    f"their budget of {_fmt(capital.max_open_orders_irr)} IRR")
    return None


def _budgets_exist() -> bool:
    """Is any budget set or any exchange down? Asked on every execution,
    where the usual answer is no: one plain query (the ORM's building of
    two would cost more than the database's answer)."""
    from django.db import connection

    # Table names from the models' own meta; the values are parameters.
    sql = (f"SELECT (EXISTS (SELECT 1 FROM {CapitalBudget._meta.db_table})) OR "  # noqa: S608
           f"(EXISTS (SELECT 1 FROM {Alert._meta.db_table} "
           "WHERE kind = %s AND state IN (%s, %s)))")
    with connection.cursor() as cursor:
        cursor.execute(sql, [AlertKind.EXCHANGE_DOWN.value, *[str(s) for s in ACTIVE_STATES]])
        return bool(cursor.fetchone()[0])


def opportunity_capital_blocker(opportunity: Any) -> str | None:
    """Execution's check, inside its claim transaction: why this
    opportunity may not trade, with an ``over_budget`` alert (or the
    exchange-down alert repeated) written in the same transaction."""
    if not _budgets_exist():
        return None
    from trading.alerts.services import alert_raise

    prices = prices_irr()
    quote_rate = prices.get(opportunity.quote_asset)
    capitals = {c.exchange: c for c in exchange_capital(
        exchanges=[opportunity.buy_exchange, opportunity.sell_exchange], prices=prices)}
    for exchange, price in ((opportunity.buy_exchange, opportunity.buy_price),
                            (opportunity.sell_exchange, opportunity.sell_price)):
        value = opportunity.quantity * price * quote_rate if quote_rate is not None else None
        why = capital_blocker(capitals[exchange.name], leg_value_irr=value)
        if why is None:
            continue
        kind = AlertKind.EXCHANGE_DOWN if capitals[exchange.name].down else AlertKind.OVER_BUDGET
        subject = f"exchange:{exchange.name}" + ("" if kind == AlertKind.EXCHANGE_DOWN
                                                 else ":refused")
        existing_title = f"{exchange.name} is down" if kind == AlertKind.EXCHANGE_DOWN else (
            f"Trade refused on {exchange.name}: capital budget")
        alert_raise(kind=kind, subject=subject, title=existing_title, exchange=exchange,
                    message=f"Opportunity #{opportunity.pk} refused: {why}.",
                    details={"opportunity": opportunity.pk, "reason": why})
        return f"capital budget: {why}"
    return None


def plans_refused(plans: list[Any]) -> dict[tuple[str, str, str], Any]:
    """Detection's check of this cycle's plans: the (market, buy, sell)
    pairs that an exchange's budget or down mode refuses, each with its
    rejection (``capital_budget`` / ``exchange_down``). Detection runs the
    cycle again without them, so the market's next best pair may trade. No
    alert on this hot path: the periodic check and execution raise them.
    One query when no budget is set and no exchange is down."""
    if not plans or not _budgets_exist():
        return {}
    from trading.detection.rejections import Reason, Rejection

    prices = prices_irr()
    capitals = {c.exchange: c for c in exchange_capital(prices=prices)}
    refused = {}
    for plan in plans:
        rate = prices.get(plan.quote)
        for name, price in ((plan.buy_exchange, plan.buy_price),
                            (plan.sell_exchange, plan.sell_price)):
            capital = capitals.get(name)
            if capital is None:
                continue
            value = plan.quantity * price * rate if rate is not None else None
            why = capital_blocker(capital, leg_value_irr=value)
            if why:
                reason = Reason.EXCHANGE_DOWN if capital.down else Reason.CAPITAL_BUDGET
                refused[(plan.market, plan.buy_exchange, plan.sell_exchange)] = Rejection(
                    reason, plan.market, plan.buy_exchange, plan.sell_exchange, {"why": why})
                break
    return refused


def budgets_check(*, now: datetime | None = None) -> list[str]:
    """The periodic check: an ``over_budget`` alert per exchange whose value
    held is over its budget, resolved once it is back within; refusal
    alerts resolved after a quiet quarter of an hour. Returns the names over."""
    from datetime import timedelta

    from trading.alerts.services import alert_condition, alert_resolve

    now = now or timezone.now()
    over = []
    for capital in exchange_capital():
        if capital.max_value_irr is None:
            alert_resolve(kind=AlertKind.OVER_BUDGET, subject=f"exchange:{capital.exchange}",
                          by="check", reason="no budget set")
            continue
        exchange = Exchange.objects.defer("api_key", "api_secret").get(pk=capital.pk)
        alert_condition(
            active=capital.over_value, kind=AlertKind.OVER_BUDGET,
            subject=f"exchange:{capital.exchange}", exchange=exchange,
            title=f"{capital.exchange} over its capital budget",
            message=(f"{capital.exchange} holds {_fmt(capital.held_irr)} IRR at the latest "
                     f"prices; its budget is {_fmt(capital.max_value_irr)} IRR. New trades "
                     "there are refused." if capital.over_value else ""),
            details={"held_irr": str(capital.held_irr), "max_value_irr":
                     str(capital.max_value_irr), "source": capital.held_source},
            resolved_reason=f"holds {_fmt(capital.held_irr or ZERO)} IRR, within its budget")
        if capital.over_value:
            over.append(capital.exchange)
    quiet = now - timedelta(minutes=15)
    for alert in Alert.objects.filter(kind=AlertKind.OVER_BUDGET, state__in=ACTIVE_STATES,
                                      subject__endswith=":refused", last_seen_at__lt=quiet):
        alert_resolve(kind=alert.kind, subject=alert.subject, by="check",
                      reason="no trade refused for 15 minutes")
    return over
