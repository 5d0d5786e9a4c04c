"""What the three adapters share: the checked parsing path and book levels.

Every answer an adapter reads goes through ``Node``: a parsed JSON value with
the path it was reached by. Its accessors check the documented shape (an
object here, a list there, a number as a string or a JSON number) and raise
``ParseError`` naming the path when the answer is something else: an empty
body, ``{}``, ``[]``, a wrong type, a missing key. ``ExchangeAdapter.fetch``
runs the parser under ``ExchangeAdapter.parsing``, which turns a
``ParseError`` into a ``TransientError`` (a read or a cancel) or an
``AmbiguousOrderError`` (a place: the exchange accepted *something*), so no
``KeyError``/``TypeError``/``AttributeError`` ever leaves an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from exchanges.errors import ParseError
from exchanges.types import BookLevel

ZERO = Decimal("0")
_MISSING = object()


def utc_from_ms(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(Decimal(str(value))) / 1000, tz=UTC)


def utc_from_seconds(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(float(Decimal(str(value))), tz=UTC)  # not money


def utc_from_iso(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` or an offset); a naive time is taken as UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    return type(value).__name__


class Node:
    """A value of an exchange's answer and where it was found."""

    __slots__ = ("path", "value")

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self.path = path

    @classmethod
    def root(cls, body: Any) -> Node:
        if body is None:
            raise ParseError("", "empty answer")
        return cls(body, "")

    def _at(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else str(key)

    def fail(self, problem: str) -> ParseError:
        return ParseError(self.path or "answer", problem)

    def __repr__(self) -> str:
        return f"Node({self.path or 'answer'}={self.value!r})"

    # -- structure ----------------------------------------------------------------

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, got {_kind(self.value)}")
        return self.value

    def is_obj(self) -> bool:
        return isinstance(self.value, dict)

    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def is_null(self) -> bool:
        return self.value is None

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def __getitem__(self, key: str) -> Node:
        """A required key of an object."""
        value = self.obj().get(key, _MISSING)
        if value is _MISSING:
            raise ParseError(self._at(key), "missing")
        return Node(value, self._at(key))

    def get(self, key: str) -> Node:
        """An optional key: a null ``Node`` when absent."""
        return Node(self.obj().get(key), self._at(key))

    def items(self) -> Iterator[tuple[str, Node]]:
        for key, value in self.obj().items():
            yield str(key), Node(value, self._at(key))

    def list(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_kind(self.value)}")
        return [Node(item, self._at(i)) for i, item in enumerate(self.value)]

    def opt_list(self) -> list[Node]:
        """A list, or nothing when null/absent."""
        return [] if self.value is None else self.list()

    # -- scalars ---------------------------------------------------------------------

    def text(self) -> str:
        """A non-empty string (a number is accepted and written as text)."""
        value = self.value
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.fail(f"expected a string, got {_kind(value)}")
        text = str(value).strip()
        if not text:
            raise self.fail("expected a string, got an empty one")
        return text

    def opt_text(self) -> str | None:
        return None if self.value in (None, "") else self.text()

    def decimal(self) -> Decimal:
        """A finite number, sent as a string or a JSON number; never through float."""
        value = self.value
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.fail(f"expected a number, got {_kind(value)}")
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise self.fail(f"expected a number, got {value!r}") from None
        if not number.is_finite():
            raise self.fail(f"expected a finite number, got {value!r}")
        return number

    def opt_decimal(self) -> Decimal | None:
        return None if self.value in (None, "") else self.decimal()

    def boolean(self) -> bool | None:
        if self.value is None:
            return None
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {_kind(self.value)}")
        return self.value

    # -- times ------------------------------------------------------------------------

    def iso_time(self) -> datetime | None:
        if self.value in (None, ""):
            return None
        try:
            return utc_from_iso(self.text())
        except ValueError:
            raise self.fail(f"expected an ISO 8601 time, got {self.value!r}") from None

    def ms_time(self) -> datetime | None:
        if self.value in (None, ""):
            return None
        try:
            return utc_from_ms(self.decimal())
        except (OverflowError, OSError, ValueError):
            raise self.fail(f"expected a time in milliseconds, got {self.value!r}") from None

    def seconds_time(self) -> datetime | None:
        """Unix seconds; 0 (as Wallex's new docs show ``transactTime``) is no time."""
        if self.value in (None, ""):
            return None
        number = self.decimal()
        if number <= 0:
            return None
        try:
            return utc_from_seconds(number)
        except (OverflowError, OSError, ValueError):
            raise self.fail(f"expected a time in seconds, got {self.value!r}") from None


def levels(
    rows: Iterable[tuple[Node, Node]], scale: Decimal, *, descending: bool
) -> tuple[BookLevel, ...]:
    """Book levels in project units, sorted best first.

    The exchanges' examples are sorted, but none states it as a rule [?]: we
    sort defensively, and drop empty levels. A negative price or amount is
    not a book.
    """
    parsed = []
    for price_node, amount_node in rows:
        price, amount = price_node.decimal(), amount_node.decimal()
        if price <= ZERO or amount < ZERO:
            raise price_node.fail(f"not a book level: price {price}, amount {amount}")
        parsed.append(BookLevel(price=price * scale, amount=amount))
    parsed = [level for level in parsed if level.amount > ZERO]
    parsed.sort(key=lambda level: level.price, reverse=descending)
    return tuple(parsed)


def pair(node: Node) -> tuple[Node, Node]:
    """A ``[price, amount]`` level."""
    items = node.list()
    if len(items) < 2:
        raise node.fail(f"expected [price, amount], got {node.value!r}")
    return items[0], items[1]


def average(total_quote: Decimal | None, quantity: Decimal) -> Decimal | None:
    if total_quote is None or quantity <= ZERO:
        return None
    return total_quote / quantity
