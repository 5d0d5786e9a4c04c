"""Fills become Trades, each exactly once (unique per exchange trade id)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from exchanges.errors import ExchangeError, RateLimitedError
from exchanges.interface import ExchangeAdapter
from exchanges.types import Fill
from trading.models import Order, Trade
from trading.pnl import fee_asset_normal

logger = logging.getLogger(__name__)

ZERO = Decimal("0")


def fills_record(*, order: Order, fills: Iterable[Fill]) -> int:
    """Record these fills of ``order``; return how many were new.

    The same fill reported twice (by execution and sync, or two syncs) is
    ignored by the unique (exchange, exchange trade id).
    """
    added = 0
    for fill in fills:
        if fill.quantity <= 0:
            continue
        try:
            with transaction.atomic():
                trade, created = Trade.objects.get_or_create(
                    exchange_id=order.exchange_id,
                    exchange_trade_id=fill.trade_id,
                    defaults={
                        "order": order,
                        "market_id": order.market_id,
                        "side": order.side,
                        "price": fill.price,
                        "quantity": fill.quantity,
                        "quote_amount": fill.price * fill.quantity,
                        "fee": fill.fee or ZERO,
                        "fee_asset": fee_asset_normal(fill.fee_asset),
                        "executed_at": fill.timestamp or timezone.now(),
                    },
                )
        except IntegrityError:
            created, trade = False, None  # a concurrent writer recorded it first
        if not created and trade is not None and trade.order_id not in (None, order.pk):
            logger.error("fill %s on exchange %s reported for order %s (client id %s) is "
                         "recorded for order %s: not recorded twice; needs a human",
                         fill.trade_id, order.exchange_id, order.pk, order.client_order_id,
                         trade.order_id)
        if created:
            added += 1
            logger.info("fill %s of order %s on exchange %s: %s @ %s", fill.trade_id,
                        order.client_order_id, order.exchange_id, fill.quantity, fill.price)
    return added


def filled_by_trades(order: Order) -> Decimal:
    return Trade.objects.filter(order=order).aggregate(total=Sum("quantity"))["total"] or ZERO


def fills_missing(order: Order) -> bool:
    """Does the order report more filled than its recorded Trades add up to?"""
    return order.filled_quantity > filled_by_trades(order)


def _recent_fills(adapter: ExchangeAdapter, market: str, deadline: float) -> list[Fill]:
    """The exchange's recent fills of ``market``, waiting out a rate limit
    while the deadline allows (recovery after an outage must not give up
    because the trading before it used the budget)."""
    while True:
        try:
            return adapter.recent_fills(market)
        except RateLimitedError as exc:
            wait = exc.retry_after or 1.0
            if time.monotonic() + wait > deadline:
                raise
            logger.info("fills of %s on %s: rate limited, waiting %.1fs", market, adapter.name,
                        wait)
            time.sleep(wait)


def fills_fetch_missing(*, adapter: ExchangeAdapter, orders: Iterable[Order],
                        patience: float = 0.0,
                        on_error: Callable[[Order, Exception], None] | None = None,
                        ) -> tuple[int, list[str]]:
    """For orders whose Trades do not yet add up to their fill (an exchange
    whose order answers carry no fills, like Nobitex), read the exchange's
    recent fills once per market and record the matching ones.

    ``patience``: seconds this may spend waiting out rate limits.
    ``on_error(order, error)``: an unexpected error recording one order's
    fills (the others are still recorded); without it, it is raised.
    Returns (fills added, errors).
    """
    missing: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        if order.filled_quantity > 0 and fills_missing(order):
            missing[order.market.code].append(order)
    added, errors = 0, []
    deadline = time.monotonic() + patience
    for market, market_orders in missing.items():
        try:
            fills = _recent_fills(adapter, market, deadline)
        except ExchangeError as exc:
            errors.append(f"fills of {market}: {exc}")
            logger.warning("fills of %s on %s not read: %s", market, adapter.name, exc)
            continue
        for order in market_orders:
            mine = [f for f in fills
                    if (order.exchange_order_id and f.exchange_order_id == order.exchange_order_id)
                    or (f.client_order_id and f.client_order_id == order.client_order_id)]
            try:
                added += fills_record(order=order, fills=mine)
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(order, exc)
    return added, errors
