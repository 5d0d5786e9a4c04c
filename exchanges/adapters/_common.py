"""Small helpers the three adapters share."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from exchanges.markets import to_decimal
from exchanges.types import BookLevel

ZERO = Decimal("0")


def levels(
    rows: Iterable[tuple[object, object]], scale: Decimal, *, descending: bool
) -> tuple[BookLevel, ...]:
    """Book levels in project units, sorted best first.

    The exchanges' examples are sorted, but none states it as a rule [?]: we
    sort defensively, and drop empty levels.
    """
    parsed = [
        BookLevel(price=to_decimal(price) * scale, amount=to_decimal(amount))
        for price, amount in rows
    ]
    parsed = [level for level in parsed if level.amount > ZERO]
    parsed.sort(key=lambda level: level.price, reverse=descending)
    return tuple(parsed)


def average(total_quote: Decimal | None, quantity: Decimal) -> Decimal | None:
    if total_quote is None or quantity <= ZERO:
        return None
    return total_quote / quantity
