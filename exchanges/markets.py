"""Markets, units and precision: pure functions, no I/O.

A ``MarketSpec`` is one exchange's listing of a canonical market (BTC-IRR …)
with its symbol, price unit and rules, all in project units. Prices inside
the project are rial for IRR-quoted markets; an exchange quoting in toman has
``price_scale = 10`` (project price = exchange price × scale) and the adapter
converts at the boundary with ``to_exchange_price``/``from_exchange_price``.

Rounding happens once, here, before an order is sent: amounts round DOWN to
the step (never more than intended), prices round to the tick in the
direction that keeps the order no worse than intended (a buy limit rounds
down, a sell limit rounds up), and an order below the minimum value is
refused locally, before any HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from exchanges.errors import RejectedError
from exchanges.types import OrderRequest, OrderType, Side

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class MarketSpec:
    market: str  # canonical code, BASE-QUOTE
    symbol: str  # the exchange's spelling
    price_scale: Decimal = Decimal("1")
    amount_step: Decimal = Decimal("0.000001")
    price_tick: Decimal = Decimal("1")  # project units
    min_order_value: Decimal = ZERO  # project quote units

    @property
    def base(self) -> str:
        return split_market(self.market)[0]

    @property
    def quote(self) -> str:
        return split_market(self.market)[1]


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """An order after the exchange's rules: what will actually be sent."""

    request: OrderRequest
    spec: MarketSpec
    quantity: Decimal
    price: Decimal | None  # project units, rounded to the tick
    exchange_price: Decimal | None  # the exchange's unit (toman on Wallex)


def split_market(code: str) -> tuple[str, str]:
    """``"btc-irr"`` → ``("BTC", "IRR")``; refuses anything else."""
    parts = code.strip().upper().split("-")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"market must look like BASE-QUOTE, got {code!r}")
    return parts[0], parts[1]


def to_decimal(value: Any) -> Decimal:
    """A number from an exchange answer (string, int or JSON number) as Decimal.

    JSON is parsed with ``parse_float=Decimal`` so floats never appear; the
    ``str()`` keeps that true for anything else too.
    """
    if isinstance(value, Decimal):
        return value
    if value is None or isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def decimal_str(value: Decimal) -> str:
    """Plain decimal text for a request body: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_amount(spec: MarketSpec, quantity: Decimal) -> Decimal:
    return floor_to(quantity, spec.amount_step)


def round_price(spec: MarketSpec, price: Decimal, side: Side) -> Decimal:
    """To the tick, never worse for us: buys down, sells up."""
    if side is Side.BUY:
        return floor_to(price, spec.price_tick)
    return ceil_to(price, spec.price_tick)


def to_exchange_price(spec: MarketSpec, price: Decimal) -> Decimal:
    """Project price (rial) → the exchange's unit (toman on Wallex)."""
    return price / spec.price_scale


def from_exchange_price(spec: MarketSpec, price: Any) -> Decimal:
    """The exchange's price → project units."""
    return to_decimal(price) * spec.price_scale


def prepare_order(exchange: str, spec: MarketSpec, request: OrderRequest) -> PreparedOrder:
    """Apply the listing's rules or refuse locally with a ``RejectedError``."""

    def refuse(code: str, message: str) -> RejectedError:
        return RejectedError(
            exchange, f"{message} ({spec.market}, order {request.client_order_id})", code=code
        )

    quantity = round_amount(spec, request.quantity)
    if quantity <= ZERO:
        raise refuse(
            "LocalZeroQuantity",
            f"quantity {request.quantity} rounds to 0 at step {spec.amount_step}",
        )
    price: Decimal | None = None
    if request.type is OrderType.LIMIT:
        if request.price is None or request.price <= ZERO:
            raise refuse("LocalMissingPrice", "a limit order needs a positive price")
        price = round_price(spec, request.price, request.side)
        if price <= ZERO:
            raise refuse("LocalBadPrice", f"price {request.price} rounds to 0")
    reference = price if price is not None else request.price
    if spec.min_order_value > ZERO:
        if reference is None:
            raise refuse(
                "LocalMissingPrice",
                "a market order needs an expected price to check the minimum order value",
            )
        value = quantity * reference
        if value < spec.min_order_value:
            raise refuse(
                "LocalSmallOrder",
                f"order value {decimal_str(value)} {spec.quote} is below the minimum "
                f"{decimal_str(spec.min_order_value)} {spec.quote}",
            )
    return PreparedOrder(
        request=request,
        spec=spec,
        quantity=quantity,
        price=price,
        exchange_price=to_exchange_price(spec, price) if price is not None else None,
    )
