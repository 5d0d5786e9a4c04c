"""arbsite's admin site: Django's, plus the control panel and its actions.

Every action is a GET confirmation page that says what will happen, and a
POST that checks the permission, calls one service from
``trading.services.control`` and reports with ``message_user``; the change
is logged as a LogEntry on the row it touched (and, for orders, as an
OrderEvent by the service).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse


class ArbsiteAdminConfig(AdminConfig):
    default_site = "trading.adminsite.ArbsiteAdminSite"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000,
        help_text="Recorded with the action in the audit log.",
    )

    def __init__(self, *args, required: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        if not required:
            self.fields["reason"].help_text = "Optional. " + self.fields["reason"].help_text


@dataclass
class Confirm:
    """One confirmed action: what the page says and what the POST does."""

    title: str
    question: str
    permission: str
    perform: Callable[[str], tuple[int, str]]  # reason -> (message level, message)
    back_url: str
    reason_required: bool = True
    button: str = "Yes, I'm sure"
    danger: bool = True
    details: list[str] | None = None
    log_object: Model | None = None


def confirm_view(site: admin.AdminSite, request: HttpRequest, action: Confirm,
                 extra_form: forms.Form | None = None) -> HttpResponse:
    """The shared GET (confirmation page) / POST (perform, message, log) view."""
    if not request.user.has_perm(action.permission):
        raise PermissionDenied
    bound = request.POST if request.method == "POST" else None
    form = ReasonForm(bound, required=action.reason_required)
    if request.method == "POST" and form.is_valid() and (extra_form is None
                                                          or extra_form.is_valid()):
        reason = form.cleaned_data["reason"].strip()
        try:
            level, message = action.perform(reason)
        except ValidationError as exc:
            level, message = messages.ERROR, " ".join(exc.messages)
        else:
            if action.log_object is not None and level != messages.ERROR:
                model_admin = site._registry.get(type(action.log_object))
                if model_admin is not None:
                    model_admin.log_change(request, action.log_object,
                                           f"{message} Reason: {reason or '-'}")
        messages.add_message(request, level, message)
        return HttpResponseRedirect(action.back_url)
    context = {
        **site.each_context(request),
        "title": action.title,
        "action": action,
        "form": form,
        "extra_form": extra_form,
    }
    return TemplateResponse(request, "admin/control/confirm.html", context)


class ArbsiteAdminSite(admin.AdminSite):
    site_header = "arbsite"
    site_title = "arbsite admin"
    index_title = "Trading control"

    def get_urls(self):
        urls = [
            path("control/", self.admin_view(self.control_panel_view), name="control_panel"),
            path("control/kill-switch/<str:target>/", self.admin_view(self.kill_switch_view),
                 name="control_kill_switch"),
            path("control/exchange/<int:pk>/<str:op>/", self.admin_view(self.exchange_view),
                 name="control_exchange"),
            path("control/market/<int:pk>/<str:op>/", self.admin_view(self.market_view),
                 name="control_market"),
        ]
        return urls + super().get_urls()

    # --- the panel -------------------------------------------------------------

    def control_panel_view(self, request: HttpRequest) -> HttpResponse:
        from trading.health import control_panel

        if not request.user.has_perm("trading.view_risksettings"):
            raise PermissionDenied
        panel = control_panel()
        user = request.user
        context = {
            **self.each_context(request),
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

    # --- actions ---------------------------------------------------------------

    def kill_switch_view(self, request: HttpRequest, target: str) -> HttpResponse:
        from trading.models import RiskSettings
        from trading.services.control import kill_switch_change

        if target not in ("on", "off"):
            raise PermissionDenied
        active = target == "on"
        row = RiskSettings.load()

        def perform(reason: str) -> tuple[int, str]:
            if kill_switch_change(active=active, user=request.user, reason=reason):
                return messages.SUCCESS, (
                    "Kill switch tripped: no new orders anywhere." if active
                    else "Kill switch reset: trading may resume.")
            return messages.WARNING, f"The kill switch was already {target}; nothing changed."

        current = f"It is now {'ON' if row.kill_switch else 'off'}"
        if row.kill_switch_set_at:
            current += (f", set by {row.kill_switch_set_by} at "
                        f"{row.kill_switch_set_at:%Y-%m-%d %H:%M:%S} UTC: "
                        f"“{row.kill_switch_reason}”")
        current += "."
        return confirm_view(self, request, Confirm(
            title="Trip the kill switch" if active else "Reset the kill switch",
            question=("Stop all trading? No new order will be sent on any exchange until "
                      "the kill switch is reset. Orders already open are not cancelled."
                      if active else
                      "Allow trading again? Detection and execution resume at once, within "
                      "the risk limits."),
            details=[current],
            permission="trading.can_trip_kill_switch",
            perform=perform,
            back_url=reverse("admin:control_panel", current_app=self.name),
            button="Trip the kill switch" if active else "Reset the kill switch",
            danger=active,
            log_object=row,
        ))

    def exchange_view(self, request: HttpRequest, pk: int, op: str) -> HttpResponse:
        from exchanges.models import Exchange
        from trading.services import control

        exchange = get_object_or_404(Exchange, pk=pk)
        back = reverse("admin:control_panel", current_app=self.name)
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
                task_id = control.recovery_request(exchange=exchange, user=request.user,
                                                   reason=reason)
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
        return confirm_view(self, request, action)

    def market_view(self, request: HttpRequest, pk: int, op: str) -> HttpResponse:
        from exchanges.models import Market
        from trading.services.control import market_enabled_set

        market = get_object_or_404(Market, pk=pk)
        if op not in ("pause", "resume"):
            raise PermissionDenied
        value = op == "resume"

        def perform(reason: str) -> tuple[int, str]:
            if market_enabled_set(market_id=market.pk, value=value, user=request.user,
                                  reason=reason):
                return messages.SUCCESS, f"Market {market.code} {'resumed' if value else 'paused'}."
            return messages.WARNING, f"Market {market.code}: already so; nothing changed."

        return confirm_view(self, request, Confirm(
            title=f"{'Resume' if value else 'Pause'} market {market.code}",
            question=(f"Trade {market.code} again on every exchange?" if value else
                      f"Stop fetching and trading {market.code} on every exchange?"),
            permission="trading.can_pause_trading", perform=perform,
            back_url=request.GET.get("next") if _safe_next(request) else reverse(
                "admin:exchanges_market_changelist", current_app=self.name),
            danger=not value, log_object=market,
        ))


def _safe_next(request: HttpRequest) -> bool:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.GET.get("next", "")
    return bool(target) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure())

