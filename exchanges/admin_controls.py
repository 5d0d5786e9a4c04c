"""Controls that another app adds to the exchange and market admin pages.

``exchanges`` knows nothing of the app that acts on exchanges (pausing
trading, resetting a breaker, running recovery live in the trading app's
control panel, with its permissions). That app registers, once its app is
ready, which users see the controls and which links each row gets; with
none registered the pages show no control column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class ControlLink:
    url: str
    label: str
    danger: bool = False


@dataclass(frozen=True)
class RowControls:
    """``visible(request)``: may this user use them (the links would refuse
    otherwise); ``exchange_links(exchange)`` / ``market_links(market)``: the
    links of one row, in order."""

    visible: Callable[[HttpRequest], bool]
    exchange_links: Callable[[Any], list[ControlLink]]
    market_links: Callable[[Any], list[ControlLink]]


_registered: list[RowControls] = []


def row_controls_register(controls: RowControls) -> None:
    """Install the row controls (replacing any registered before)."""
    _registered[:] = [controls]


def row_controls() -> RowControls | None:
    return _registered[0] if _registered else None
