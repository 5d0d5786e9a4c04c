"""What the wire modules share: the request and answer types, JSON with Decimals."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str  # below the exchange prefix, e.g. /market/orders/add
    query: dict[str, str]  # first value of each name
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: str
    query_items: list[tuple[str, str]] = field(default_factory=list)  # as sent, in order

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_body(self) -> dict[str, Any] | None:
        """The body as a JSON object (numbers as Decimal), a form, or None if unreadable.

        JSON is read whatever the Content-Type says: Invex's official example posts
        ``data=json.dumps(params)`` with no Content-Type at all.
        """
        if not self.body:
            return {}
        text = self.body.decode("utf-8", errors="replace")
        content_type = self.header("content-type") or ""
        if "application/x-www-form-urlencoded" in content_type:
            return {k: v[0] for k, v in parse_qs(text).items()}
        try:
            value = json.loads(text, parse_float=Decimal)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def params(self) -> dict[str, Any]:
        """Query parameters overlaid by body parameters (Nobitex and Wallex take either)."""
        body = self.json_body() or {}
        return {**self.query, **body}


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return dumps(self.body).encode()


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    group: str  # rate-limit group
    handler: Handler
    places_order: bool = False  # lost_answer applies


def fmt(value: Decimal | int | None) -> str | None:
    """A Decimal as a plain string, no exponent, no trailing zeros."""
    if value is None:
        return None
    d = Decimal(value)
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    return text


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def dec(value: Any) -> Decimal | None:
    """A Decimal from a string or number as sent, or None if it is not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def iso(ts: float) -> str:
    """ISO 8601 with microseconds and +00:00, as Nobitex and Invex write times."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
