"""One rule for fees and P&L, used by settlement, the daily snapshots, the
reports (live and rolled up), ``seed_demo`` and the committed-balance ledger.

- **Quote assets**: results are kept per quote asset (``QUOTE_ASSETS``),
  never added across them.
- **A fee's value in the quote asset**: a fee in the quote asset, or with no
  asset named, counts as it is; a fee in the base asset is valued at its
  fill's price (fee × price); a fee in any other asset is left out (and
  logged where one trade is valued). Fee assets are stored upper case
  (``fee_asset_normal``, applied when fills and order reports are
  recorded), so every comparison here is exact, in Python and in SQL alike.
- **Realized P&L** of an opportunity: proceeds − costs − fees over its
  Trades, in its quote asset.
- **Drawdown**, two figures with two names: ``max_drawdown_intraday``, over
  one day's round trips in closing order (the daily risk snapshot), and
  ``max_drawdown_over_days``, over daily totals (the reports' period).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from django.db.models import Case, DecimalField, F, Q, Value, When

from exchanges.models import Market
from trading.models import PRODUCT_DECIMAL_PLACES, PRODUCT_MAX_DIGITS, Opportunity, Trade

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
QUOTE_ASSETS = ("IRR", "USDT")

# Wide enough for a sum of products of two money fields (fee × price).
FEE_TIMES_PRICE = DecimalField(max_digits=PRODUCT_MAX_DIGITS,
                               decimal_places=PRODUCT_DECIMAL_PLACES)


def fee_asset_normal(asset: str | None) -> str:
    """How a fee asset is stored: upper case, '' when the exchange names none."""
    return (asset or "").strip().upper()


def fee_paid_in(*, fee_asset: str, base: str, quote: str) -> Literal["quote", "base"] | None:
    """Which of the market's assets a fee is paid in: the quote (named, or
    no asset named), the base, or neither (None)."""
    if fee_asset in (quote, ""):
        return "quote"
    if fee_asset == base:
        return "base"
    return None


def fee_value(*, fee: Decimal, fee_times_price: Decimal, fee_asset: str, base: str,
              quote: str) -> Decimal | None:
    """A fee (or a group's fees) in the quote asset: as it is when paid in
    the quote, ``fee_times_price`` (each fill's fee × its price) when paid
    in the base; None for any other asset."""
    paid_in = fee_paid_in(fee_asset=fee_asset, base=base, quote=quote)
    if paid_in == "quote":
        return fee
    if paid_in == "base":
        return fee_times_price
    return None


def fees_in_quote(quote: str) -> Q:
    """The SQL form of "paid in the quote": Trades whose fees count as they are."""
    return Q(fee_asset__in=(quote, ""))


def base_fee_times_price(markets: Iterable[Market]) -> Case:
    """The SQL form of "paid in the base, valued at the fill's price": per
    Trade, fee × price when its fee asset is its market's base, else 0.
    Matched per market id (no join; on SQLite only these products are
    summed, so large integer products of other rows do not overflow)."""
    return Case(*[When(market_id=m.pk, fee_asset=m.base, then=F("fee") * F("price"))
                  for m in markets],
                default=Value(ZERO), output_field=FEE_TIMES_PRICE)


def realized_pnl(opportunity: Opportunity) -> Decimal:
    """Proceeds − costs − fees of the opportunity's Trades, in its quote asset."""
    quote, base = opportunity.market.quote, opportunity.market.base
    total = ZERO
    for trade in Trade.objects.filter(order__opportunity=opportunity):
        total += trade.quote_amount if trade.side == "sell" else -trade.quote_amount
        if not trade.fee:
            continue
        value = fee_value(fee=trade.fee, fee_times_price=trade.fee * trade.price,
                          fee_asset=trade.fee_asset, base=base, quote=quote)
        if value is None:
            logger.warning("fee of trade %s in %s: neither %s nor %s; left out of P&L",
                           trade.exchange_trade_id, trade.fee_asset, base, quote)
            continue
        total -= value
    return total


def _max_drawdown(results: Iterable[Decimal]) -> Decimal:
    """Largest fall of the cumulative result from its running peak (the
    peak starts at 0)."""
    peak = cumulative = worst = ZERO
    for result in results:
        cumulative += result
        peak = max(peak, cumulative)
        worst = max(worst, peak - cumulative)
    return worst


def max_drawdown_intraday(round_trips: Iterable[Decimal]) -> Decimal:
    """One day's drawdown: over its round trips' realized P&L in the order
    they closed (``DailyRiskSnapshot.max_drawdown_<quote>``)."""
    return _max_drawdown(round_trips)


def max_drawdown_over_days(daily_totals: Iterable[Decimal]) -> Decimal:
    """A period's drawdown: over its days' realized P&L totals, oldest day
    first (the reports' "Max drawdown (daily)")."""
    return _max_drawdown(daily_totals)
