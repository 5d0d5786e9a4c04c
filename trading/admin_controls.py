"""The control panel's links on the exchange and market admin pages,
registered into ``exchanges.admin_controls`` when the trading app is ready
(``exchanges`` never names this app, its permissions or its URLs)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from exchanges.admin_controls import ControlLink, RowControls, row_controls_register
from exchanges.models import Exchange, Market

PERMISSION = "trading.can_pause_trading"


def _visible(request: HttpRequest) -> bool:
    return request.user.has_perm(PERMISSION)


def _exchange_links(exchange: Exchange) -> list[ControlLink]:
    def url(op: str) -> str:
        return reverse("admin:control_exchange", args=[exchange.pk, op])

    pause = (ControlLink(url("pause"), "Pause…", danger=True) if exchange.trading_enabled
             else ControlLink(url("resume"), "Resume…"))
    return [pause, ControlLink(url("reset-breaker"), "Reset breaker…"),
            ControlLink(url("recover"), "Recover…")]


def _market_links(market: Market) -> list[ControlLink]:
    if market.enabled:
        return [ControlLink(reverse("admin:control_market", args=[market.pk, "pause"]),
                            "Pause…", danger=True)]
    return [ControlLink(reverse("admin:control_market", args=[market.pk, "resume"]),
                        "Resume…")]


def admin_controls_install() -> None:
    row_controls_register(RowControls(visible=_visible, exchange_links=_exchange_links,
                                      market_links=_market_links))
