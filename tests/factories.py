"""Small builders for model rows; each argument has a sensible default.

``make_exchange`` and ``make_market`` return the existing row of that name
when there is one; ``make_exchange`` asked for fields that the existing row
does not have fails (``BuilderConflict``) instead of handing back a row the
test did not ask for.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.utils import timezone

from exchanges.catalog import EXCHANGES
from exchanges.models import Exchange, Market
from trading.models import Order, Trade
from trading.services.orders import new_client_order_id

_seq = itertools.count(1)


class BuilderConflict(AssertionError):
    """A builder was asked for a row that exists with other values."""


def _existing_matches(row, fields: dict) -> None:
    wrong = {name: (getattr(row, name), value) for name, value in fields.items()
             if getattr(row, name) != value}
    if wrong:
        raise BuilderConflict(
            f"{type(row).__name__} {row} already exists with "
            + ", ".join(f"{name}={have!r} (asked for {want!r})"
                        for name, (have, want) in wrong.items()))


def make_exchange(name: str = "nobitex", **fields) -> Exchange:
    """An exchange row; unless told otherwise it has passed its conformance
    check at its base URL, as a deployment's exchange has before it trades
    (the gate's own tests make rows that have not: ``conformance_state=``)."""
    explicit = dict(fields)
    adapter = fields.pop("adapter", name if name in EXCHANGES else "nobitex")
    exchange, created = Exchange.objects.get_or_create(
        name=name, defaults={"adapter": adapter, **fields})
    if not created:
        _existing_matches(exchange, explicit)
    elif "conformance_state" not in explicit:
        from exchanges.services.base_url import effective_base_url

        exchange.conformance_state = Exchange.Conformance.PASSED
        exchange.conformance_checked_at = timezone.now()
        exchange.conformance_base_url = effective_base_url(exchange)
        Exchange.objects.filter(pk=exchange.pk).update(
            conformance_state=exchange.conformance_state,
            conformance_checked_at=exchange.conformance_checked_at,
            conformance_base_url=exchange.conformance_base_url)
    return exchange


def make_market(base: str = "BTC", quote: str = "IRR") -> Market:
    market, _ = Market.objects.get_or_create(base=base, quote=quote)
    return market


def make_order(
    *, exchange: Exchange | None = None, market: Market | None = None, **fields
) -> Order:
    exchange = exchange or make_exchange()
    defaults = {
        # Minted as trading mints them: valid on every exchange (Wallex's rule).
        "client_order_id": new_client_order_id(exchange=exchange,
                                               purpose=fields.get("purpose", "entry")),
        "side": "buy",
        "quantity": Decimal("1"),
        "price": Decimal("10000000000"),
    }
    defaults.update(fields)
    return Order.objects.create(exchange=exchange, market=market or make_market(), **defaults)


def make_trade(*, order: Order, **fields) -> Trade:
    n = next(_seq)
    defaults = {
        "exchange": order.exchange,
        "market": order.market,
        "exchange_trade_id": f"t-{n}",
        "side": order.side,
        "price": Decimal("100"),
        "quantity": Decimal("1"),
        "quote_amount": Decimal("100"),
        "executed_at": timezone.now(),
    }
    defaults.update(fields)
    return Trade.objects.create(order=order, **defaults)


def make_opportunity(*, market: Market, buy: Exchange, sell: Exchange, quantity: Decimal,
                     buy_price: Decimal, sell_price: Decimal, **fields):
    from trading.models import Opportunity

    defaults = {
        "quote_asset": market.quote,
        "buy_vwap": buy_price,
        "sell_vwap": sell_price,
        "buy_fee_rate": buy.taker_fee,
        "sell_fee_rate": sell.taker_fee,
        "expected_profit": (sell_price - buy_price) * quantity,
        "expected_profit_pct": Decimal("0"),
    }
    defaults.update(fields)
    return Opportunity.objects.create(
        market=market, buy_exchange=buy, sell_exchange=sell, quantity=quantity,
        buy_price=buy_price, sell_price=sell_price, **defaults,
    )
