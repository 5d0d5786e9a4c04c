"""Reading websocket frames: JSON whose numbers never pass through float.

Wallex sends prices and amounts as JSON numbers (``{"price":82131,"quantity":255.75}``);
``json.loads`` would make floats of them. Every frame is parsed with
``parse_float=Decimal`` (and NaN/Infinity refused), and values become ``Decimal``
through ``Decimal(str(x))`` (``exchanges.markets.to_decimal``), so ``255.75`` stays
exactly ``255.75``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


class MalformedFrame(ValueError):
    """A frame that is not what the protocol says; counted and logged, never fatal."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this protocol sends")


def loads(text: str | bytes) -> Any:
    """JSON with Decimal numbers; ``MalformedFrame`` on anything else."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, TypeError, RecursionError) as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None


def ms_to_utc(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def utc_to_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def preview(frame: str | bytes, limit: int = 120) -> str:
    """The start of a frame for a log line."""
    text = frame if isinstance(frame, str) else repr(frame[:limit])
    return text if len(text) <= limit else text[:limit] + "…"
