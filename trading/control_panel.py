"""The control panel: the trading pages of arbsite's admin site
(``arbsite.adminsite``): the panel itself, the confirmed actions it links
(kill switch, pause or resume an exchange or a market, reset a breaker, run
recovery), and the links to them on the exchange and market pages
(registered into ``exchanges.admin_controls`` when the app is ready, since
``exchanges`` never names this app, its permissions or its URLs).

Each action is a GET confirmation page and a POST that calls one service of
``trading.services.control`` (see ``arbsite.adminsite.confirm_view``).
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from arbsite import formatting
from arbsite.adminsite import Confirm, confirm_view
from exchanges.admin_controls import ControlLink, RowControls, row_controls_register
from exchanges.models import Exchange, Market
from trading.models import RiskSettings
from trading.selectors import control_panel
from trading.services import control
from trading.tasks import recover_orders


def control_panel_urls(site: admin.AdminSite) -> list:
    def page(view):
        return site.admin_view(partial(view, site))

    return [
        path("control/", page(control_panel_view), name="control_panel"),
        path("control/kill-switch/<str:target>/", page(kill_switch_view),
             name="control_kill_switch"),
        path("control/exchange/<int:pk>/<str:op>/", page(exchange_view),
             name="control_exchange"),
        path("control/market/<int:pk>/<str:op>/", page(market_view), name="control_market"),
    ]


def control_panel_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("trading.view_risksettings"):
        raise PermissionDenied
    panel = control_panel()
    user = request.user
    context = {
        **site.each_context(request),
        "title": "Control panel",
        "panel": panel,
        "health": panel.health,
        "refresh_seconds": 10,
        "can_kill": user.has_perm("trading.can_trip_kill_switch"),
        "can_pause": user.has_perm("trading.can_pause_trading"),
        "can_reset_breaker": user.has_perm("trading.can_reset_breaker"),
        "can_recover": user.has_perm("trading.can_run_recovery"),
    }
    return TemplateResponse(request, "admin/control/panel.html", context)


def kill_switch_view(site: admin.AdminSite, request: HttpRequest,
                     target: str) -> HttpResponse:
    if target not in ("on", "off"):
        raise PermissionDenied
    active = target == "on"
    row = RiskSettings.load()

    def perform(reason: str) -> tuple[int, str]:
        outcome = control.kill_switch_change(active=active, user=request.user, reason=reason)
        legs = f" {outcome.legs_text}" if outcome.legs_text else ""
        if outcome:
            return messages.SUCCESS, (
                f"Kill switch tripped: no new orders anywhere.{legs}" if active
                else "Kill switch reset: trading may resume.")
        return messages.WARNING, f"The kill switch was already {target}; nothing changed.{legs}"

    current = f"It is now {'ON' if row.kill_switch else 'off'}"
    if row.kill_switch_set_at:
        current += (f", set by {row.kill_switch_set_by} at "
                    f"{formatting.moment(row.kill_switch_set_at)}: "
                    f"“{row.kill_switch_reason}”")
    current += "."
    return confirm_view(site, request, Confirm(
        title="Trip the kill switch" if active else "Reset the kill switch",
        question=("Stop all trading? No new order will be sent on any exchange until "
                  "the kill switch is reset. Entry legs resting on a book are cancelled "
                  "now, and a one-sided fill is unwound (within the maximum unwind loss); "
                  "other open orders are not cancelled."
                  if active else
                  "Allow trading again? Detection and execution resume at once, within "
                  "the risk limits."),
        details=[current],
        permission="trading.can_trip_kill_switch",
        perform=perform,
        back_url=reverse("admin:control_panel", current_app=site.name),
        button="Trip the kill switch" if active else "Reset the kill switch",
        danger=active,
        log_object=row,
    ))


def exchange_view(site: admin.AdminSite, request: HttpRequest, pk: int,
                  op: str) -> HttpResponse:
    exchange = get_object_or_404(Exchange, pk=pk)
    back = reverse("admin:control_panel", current_app=site.name)
    flag_ops = {
        "pause": ("trading_enabled", False, "Pause trading on {}",
                  "No new orders will be placed on {}. Books are still fetched and "
                  "existing orders still synced."),
        "resume": ("trading_enabled", True, "Resume trading on {}",
                   "New orders may be placed on {} again."),
        "disable": ("enabled", False, "Disable {}",
                    "{} will not be polled, traded or synced at all."),
        "enable": ("enabled", True, "Enable {}",
                   "{} will be polled and synced again (trading if not paused)."),
    }
    if op in flag_ops:
        field, value, title, question = flag_ops[op]

        def perform(reason: str) -> tuple[int, str]:
            changed = control.exchange_flag_set(exchange_id=exchange.pk, field=field,
                                                value=value, user=request.user,
                                                reason=reason)
            if changed:
                return messages.SUCCESS, f"{title.format(exchange.name)}: done."
            return messages.WARNING, f"{exchange.name}: already so; nothing changed."

        action = Confirm(title=title.format(exchange.name),
                         question=question.format(exchange.name),
                         permission="trading.can_pause_trading", perform=perform,
                         back_url=back, danger=not value, log_object=exchange)
    elif op == "reset-breaker":
        def perform(reason: str) -> tuple[int, str]:
            if control.exchange_breaker_reset(exchange=exchange, user=request.user,
                                              reason=reason):
                return messages.SUCCESS, f"Circuit breaker of {exchange.name} reset."
            return messages.WARNING, (f"The circuit breaker of {exchange.name} was "
                                      "already closed; nothing changed.")

        action = Confirm(
            title=f"Reset the circuit breaker of {exchange.name}",
            question=(f"Close the breaker and forget its failures? Calls to "
                      f"{exchange.name} go through again at once."),
            permission="trading.can_reset_breaker", perform=perform, back_url=back,
            log_object=exchange,
        )
    elif op == "recover":
        def perform(reason: str) -> tuple[int, str]:
            task_id = control.recovery_request(
                exchange=exchange, user=request.user, reason=reason,
                enqueue_recovery=lambda name: recover_orders.delay(exchange=name).id)
            return messages.SUCCESS, (f"Recovery of {exchange.name} enqueued (task "
                                      f"{task_id}); its summary appears on the control "
                                      "panel when a worker has run it.")

        action = Confirm(
            title=f"Run recovery for {exchange.name}",
            question=(f"Reconcile every order of {exchange.name} with the exchange: "
                      "pending orders are looked up by client order id, open orders "
                      "synced, unknown orders on the exchange imported and flagged."),
            permission="trading.can_run_recovery", perform=perform, back_url=back,
            danger=False, log_object=exchange,
        )
    else:
        raise PermissionDenied
    return confirm_view(site, request, action)


def market_view(site: admin.AdminSite, request: HttpRequest, pk: int,
                op: str) -> HttpResponse:
    market = get_object_or_404(Market, pk=pk)
    if op not in ("pause", "resume"):
        raise PermissionDenied
    value = op == "resume"

    def perform(reason: str) -> tuple[int, str]:
        if control.market_enabled_set(market_id=market.pk, value=value, user=request.user,
                                      reason=reason):
            return messages.SUCCESS, f"Market {market.code} {'resumed' if value else 'paused'}."
        return messages.WARNING, f"Market {market.code}: already so; nothing changed."

    return confirm_view(site, request, Confirm(
        title=f"{'Resume' if value else 'Pause'} market {market.code}",
        question=(f"Trade {market.code} again on every exchange?" if value else
                  f"Stop fetching and trading {market.code} on every exchange?"),
        permission="trading.can_pause_trading", perform=perform,
        back_url=request.GET.get("next") if _safe_next(request) else reverse(
            "admin:exchanges_market_changelist", current_app=site.name),
        danger=not value, log_object=market,
    ))


def _safe_next(request: HttpRequest) -> bool:
    target = request.GET.get("next", "")
    return bool(target) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure())


# --- the links on the exchange and market pages ----------------------------------

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
