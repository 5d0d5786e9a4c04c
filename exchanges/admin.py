"""Exchanges and markets in the admin.

Credentials are write-only: the form never renders a stored value, a blank
field keeps what is stored, and lists show only "set" / "not set". The
circuit breaker's shared state is shown per exchange; pausing, resetting
the breaker and recovery are confirmed actions of the control panel, linked
from each row by the controls the trading app registers
(``exchanges.admin_controls``). Every change is kept in the row's history (simple-history;
credentials excluded).
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from arbsite import formatting
from arbsite.admin_forms import PlainDecimalsForm
from arbsite.admin_guards import GuardedHistoryAdmin
from arbsite.adminsite import Confirm, confirm_view
from exchanges.admin_controls import ControlLink, row_controls
from exchanges.breaker import breaker_state
from exchanges.conformance.gate import conformance_state
from exchanges.conformance.store import conformance_override_clear, conformance_override_set
from exchanges.credentials import api_key_expiry, api_key_note
from exchanges.models import ConformanceRun, Exchange, ExchangeMarket, Market
from exchanges.ratelimit import backoff_state
from exchanges.registry import credentials_source
from exchanges.services.base_url import (
    base_url_change_preview,
    base_url_validate,
    effective_base_url,
    exchange_base_url_change,
)
from exchanges.services.rules import RULE_FIELDS, operator_rules_mark, operator_rules_release
from exchanges.variants import variants_for

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("api_key", "api_secret")


class ExchangeForm(PlainDecimalsForm):
    # Only when the exchange is added; afterwards through its own confirmed
    # page (ExchangeAdmin.base_url_view), as credentials go where it points.
    base_url = forms.CharField(
        required=False, max_length=200,
        help_text=("https://…, or the sandbox (http://127.0.0.1:…). Blank: from the "
                   "environment (e.g. NOBITEX_BASE_URL) or the real host."),
    )
    api_key = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="API token or key. Leave blank to keep the stored value.",
    )
    api_secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="Signing key (Invex: hex DER RSA private key). Blank keeps the stored value.",
    )
    clear_credentials = forms.BooleanField(
        required=False,
        help_text="Remove the stored key and secret (the environment's then apply).",
    )

    class Meta:
        model = Exchange
        fields = ("name", "adapter", "enabled", "trading_enabled", "taker_fee", "maker_fee",
                  "base_url", "api_key", "api_secret", "notes")
        # Checked by exchanges.hosts, not by URLField's looser rule.
        field_classes = {"base_url": forms.CharField}

    def _keep(self, field: str) -> str:
        value = self.cleaned_data.get(field) or ""
        if self.cleaned_data.get("clear_credentials"):
            return ""
        if not value and self.instance.pk:
            return getattr(self.instance, field) or ""
        return value

    def clean_base_url(self) -> str:
        return base_url_validate(self.cleaned_data.get("base_url") or "")

    def clean(self) -> dict:
        cleaned = super().clean()
        for field in SECRET_FIELDS:
            cleaned[field] = self._keep(field)
        return cleaned


class BaseUrlForm(forms.Form):
    base_url = forms.CharField(
        label="New base URL", required=False, max_length=200,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=("https://…, or the sandbox (http://127.0.0.1:…, http://localhost:…, or "
                   "EXCHANGE_SANDBOX_URL). Blank: the environment's URL or the real host."),
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             max_length=1000,
                             help_text="Recorded with the change in the audit log.")


class ExchangeMarketInline(admin.TabularInline):
    model = ExchangeMarket
    form = PlainDecimalsForm
    fields = ("market", "symbol", "price_scale", "amount_step", "price_tick", "min_order_value",
              "enabled", "set_by_operator")
    readonly_fields = ("set_by_operator",)
    extra = 0
    autocomplete_fields = ("market",)

    @admin.display(description="set by hand")
    def set_by_operator(self, obj: ExchangeMarket) -> str:
        return _operator_rules(obj)


def _operator_rules(obj: ExchangeMarket) -> str:
    marks = obj.operator_rules or {}
    if not marks:
        return "-"
    return "; ".join(f"{name} {mark.get('value')} by {mark.get('by')} at "
                     f"{str(mark.get('at', ''))[:16].replace('T', ' ')}"
                     for name, mark in sorted(marks.items()))


def _mark_operator_rules(request: HttpRequest, form: forms.ModelForm) -> None:
    """A rule an operator changed on an existing listing is theirs: the
    exchange's rules never loosen it (exchanges/services/rules.py)."""
    instance = form.instance
    if instance.pk is None or instance._state.adding:
        return
    changed = [name for name in RULE_FIELDS if name in form.changed_data]
    if changed:
        operator_rules_mark(listing=instance, fields=changed,
                            username=request.user.get_username())


def control_links(links: list[ControlLink]) -> str:
    """The row's control links (confirmation pages registered by another app)."""
    return format_html_join("", '<a class="button{}" href="{}">{}</a>',
                            ((" arb-danger" if link.danger else "", link.url, link.label)
                             for link in links))


def _without_controls(request: HttpRequest, columns) -> tuple:
    """The control column only for users the registered controls allow
    (their links would refuse the others); none registered, none shown."""
    controls = row_controls()
    if controls is not None and controls.visible(request):
        return tuple(columns)
    return tuple(c for c in columns if c != "controls")


def _set(value: str) -> str:
    return "set" if value else "not set"


@admin.register(Exchange)
class ExchangeAdmin(GuardedHistoryAdmin):
    # No history revert: it would move the base URL (and with it where the
    # credentials go) without the base-URL confirmation.
    history_revert = False
    form = ExchangeForm
    inlines = (ExchangeMarketInline,)
    list_display = ("name", "adapter", "enabled", "trading_enabled", "fees", "credentials_from",
                    "conformance", "breaker", "controls")
    list_filter = ("adapter", "enabled", "trading_enabled", "conformance_state")
    search_fields = ("name",)
    readonly_fields = ("fees", "conformance_detail", "conformance_last_run", "breaker_detail",
                       "rate_limit", "wire_variants_shown", "credentials", "api_key_expires",
                       "rules_read", "created_shown", "updated_shown")
    override_permission = "exchanges.override_conformance"
    history_list_display = ("enabled", "trading_enabled", "taker_fee", "maker_fee", "base_url",
                            "conformance_state")
    base_url_permission = "exchanges.change_exchange_base_url"

    def get_fields(self, request: HttpRequest, obj=None):
        """Where the credentials come from beside the fields that set them;
        the fees as percentages beside their rates."""
        fields = list(super().get_fields(request, obj))
        moved = [name for name in ("fees", "credentials") if name in fields]
        fields = [name for name in fields if name not in moved]
        at = fields.index("maker_fee") + 1 if "maker_fee" in fields else len(fields)
        return fields[:at] + moved + fields[at:]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is None:
            return fields
        # After creation the adapter is the row's identity (its host and
        # credentials' names), and the base URL changes on its own page.
        link = ("base_url_with_link" if request.user.has_perm(self.base_url_permission)
                else "base_url_effective")
        return ("adapter", "base_url", link, *fields)

    def _base_url(self, obj: Exchange) -> str:
        return effective_base_url(obj) + ("" if obj.base_url else
                                          " (from the environment or the real host)")

    @admin.display(description="calls go to")
    def base_url_effective(self, obj: Exchange) -> str:
        return self._base_url(obj)

    @admin.display(description="calls go to")
    def base_url_with_link(self, obj: Exchange) -> str:
        return format_html('{} <a class="button" href="{}">Change base URL…</a>',
                           self._base_url(obj),
                           reverse("admin:exchanges_exchange_base_url", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:pk>/base-url/", self.admin_site.admin_view(self.base_url_view),
                 name="exchanges_exchange_base_url"),
            path("<int:pk>/conformance-override/<str:op>/",
                 self.admin_site.admin_view(self.conformance_override_view),
                 name="exchanges_exchange_conformance_override"),
        ] + super().get_urls()

    def save_model(self, request: HttpRequest, obj: Exchange, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        typed = bool((form.data.get("api_key") or "").strip())
        if typed or form.cleaned_data.get("clear_credentials"):
            api_key_note(exchange=obj, entered_at=timezone.now())

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is ExchangeMarket:
            for inline_form in formset.forms:
                if inline_form.has_changed() and not formset._should_delete_form(inline_form):
                    _mark_operator_rules(request, inline_form)
        super().save_formset(request, form, formset, change)

    def conformance_override_view(self, request: HttpRequest, pk: int, op: str) -> HttpResponse:
        """Let an exchange trade without a passed check (or stop letting it):
        its own permission, a reason, a confirmation page."""
        exchange = get_object_or_404(Exchange, pk=pk)
        if op not in ("set", "clear"):
            raise PermissionDenied
        state = conformance_state(exchange)
        change_url = reverse("admin:exchanges_exchange_change", args=[exchange.pk])
        if op == "set":
            def perform(reason: str) -> tuple[int, str]:
                if conformance_override_set(exchange_id=exchange.pk, user=request.user,
                                            reason=reason):
                    return messages.WARNING, (f"{exchange.name} may trade at "
                                              f"{effective_base_url(exchange)} without a passed "
                                              "conformance check.")
                return messages.INFO, f"{exchange.name} was already overridden; nothing changed."

            action = Confirm(
                title=f"Let {exchange.name} trade without a passed conformance check",
                question=(f"New orders may then be placed on {exchange.name} at "
                          f"{effective_base_url(exchange)} although its conformance check has "
                          "not passed there. Points the check would have settled (how the "
                          "exchange signs, answers a lost order, names fields) may cost money "
                          "on a real account."),
                details=[f"Conformance now: {state.label}.",
                         "The override holds for this base URL only; pointing the exchange "
                         "elsewhere needs a new check or a new override."],
                permission=self.override_permission, perform=perform, back_url=change_url,
                button="Override the gate", danger=True, log_object=exchange)
        else:
            def perform(reason: str) -> tuple[int, str]:
                if conformance_override_clear(exchange_id=exchange.pk, user=request.user,
                                              reason=reason):
                    return messages.SUCCESS, (f"{exchange.name}: override withdrawn; it trades "
                                              "only once its check has passed.")
                return messages.INFO, f"{exchange.name} had no override; nothing changed."

            action = Confirm(
                title=f"Withdraw the conformance override of {exchange.name}",
                question=(f"{exchange.name} then places new orders only once its conformance "
                          "check has passed at its base URL."),
                details=[f"Conformance now: {state.label}."],
                permission=self.override_permission, perform=perform, back_url=change_url,
                button="Withdraw the override", danger=False, log_object=exchange)
        return confirm_view(self.admin_site, request, action)

    def base_url_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Change the base URL: a form, then a confirmation page saying where
        calls will go and whether the credentials are cleared, then the change."""
        if not request.user.has_perm(self.base_url_permission):
            raise PermissionDenied
        exchange = get_object_or_404(Exchange, pk=pk)
        change_url = reverse("admin:exchanges_exchange_change", args=[exchange.pk])
        form = BaseUrlForm(request.POST if request.method == "POST" else None,
                           initial={"base_url": exchange.base_url})
        preview = None
        if request.method == "POST" and form.is_valid():
            try:
                preview = base_url_change_preview(exchange=exchange,
                                                  base_url=form.cleaned_data["base_url"])
            except ValidationError as exc:
                form.add_error("base_url", exc)
            else:
                if preview.stored == (exchange.base_url or "").strip():
                    form.add_error("base_url", "That is the base URL already.")
                    preview = None
        if preview is not None and request.POST.get("confirmed") == "yes":
            reason = form.cleaned_data["reason"]
            try:
                change = exchange_base_url_change(
                    exchange_id=exchange.pk, base_url=form.cleaned_data["base_url"],
                    actor=f"admin:{request.user.get_username()}", reason=reason)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.log_change(request, change.exchange, f"{change.describe()} Reason: {reason}")
            self.message_user(request, change.describe(),
                              messages.WARNING if change.clears_credentials else messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change the base URL of {exchange.name}",
            "opts": self.model._meta,
            "original": exchange,
            "form": form,
            "preview": preview,
            "current": self._base_url(exchange),
            "credentials": f"key {_set(exchange.api_key)}, secret {_set(exchange.api_secret)}",
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/exchanges/exchange/base_url.html", context)

    def get_list_display(self, request: HttpRequest):
        return _without_controls(request, super().get_list_display(request))

    @admin.display(description="control")
    def controls(self, obj: Exchange) -> str:
        controls = row_controls()
        return control_links(controls.exchange_links(obj)) if controls else ""

    @admin.display(description="credentials come from")
    def credentials(self, obj: Exchange) -> str:
        """Where each credential comes from (the admin or the environment),
        never its value."""
        if obj.pk is None:
            return "-"
        lines = [source.describe() for source in credentials_source(obj)]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) or "-"

    @admin.display(description="credentials from")
    def credentials_from(self, obj: Exchange) -> str:
        sources = credentials_source(obj)
        kinds = {s.source for s in sources}
        if kinds == {"admin"}:
            return "the admin"
        if kinds == {"environment"}:
            return "the environment (" + ", ".join(s.variable or "" for s in sources) + ")"
        if kinds == {"none"}:
            return "not set"
        return "; ".join(f"{s.credential}: {s.source}" for s in sources)

    @admin.display(description="fees (taker / maker)")
    def fees(self, obj: Exchange) -> str:
        return f"{formatting.rate(obj.taker_fee)} / {formatting.rate(obj.maker_fee)}"

    @admin.display(description="created")
    def created_shown(self, obj: Exchange) -> str:
        return formatting.moment(obj.created_at)

    @admin.display(description="updated")
    def updated_shown(self, obj: Exchange) -> str:
        return formatting.moment(obj.updated_at)

    @admin.display(description="circuit breaker")
    def breaker(self, obj: Exchange) -> str:
        try:
            state = breaker_state(obj.name)
        except Exception as exc:  # Redis down: say so, the page still renders
            logger.warning("breaker state of %s unavailable: %s", obj.name, exc)
            return "unavailable"
        if state.state == "closed" and not state.failures:
            return "closed"
        if state.scope == "private":
            return f"{state.state} for private calls: {state.reason}"
        return f"{state.state} ({state.failures} failures)"

    @admin.display(description="circuit breaker")
    def breaker_detail(self, obj: Exchange) -> str:
        if obj.pk is None:
            return "-"
        try:
            state = breaker_state(obj.name)
        except Exception as exc:
            logger.warning("admin: breaker state of %s unavailable: %s", obj.name, exc)
            return "unavailable (Redis)"
        parts = [f"{state.state}, {state.failures} consecutive failures"]
        if state.opened_at:
            parts.append(f"opened at {formatting.moment(state.opened_at)}")
        if state.scope == "private":
            parts.append(f"private calls stopped: {state.reason}")
        if state.probe_at:
            parts.append(f"next probe at {formatting.moment(state.probe_at)}")
        if state.last_error:
            parts.append(f"last error: {state.last_error}")
        return "; ".join(parts)

    @admin.display(description="rate-limit back-off")
    def rate_limit(self, obj: Exchange) -> str:
        if obj.pk is None:
            return "-"
        try:
            state = backoff_state(obj.name)
        except Exception as exc:
            logger.warning("admin: back-off of %s unavailable: %s", obj.name, exc)
            return "unavailable (Redis)"
        if not state.active:
            return "none"
        since = f" since {formatting.moment(state.since, date=False)}" if state.since else ""
        return f"{state.remaining:.0f}s left{since}: {state.reason or 'no reason given'}"

    @admin.display(description="conformance")
    def conformance(self, obj: Exchange) -> str:
        return conformance_state(obj).label

    @admin.display(description="conformance")
    def conformance_detail(self, obj: Exchange) -> str:
        if obj.pk is None:
            return "-"
        state = conformance_state(obj)
        links = []
        if state.state == "overridden":
            links.append((reverse("admin:exchanges_exchange_conformance_override",
                                  args=[obj.pk, "clear"]), "Withdraw the override…"))
        elif state.state in ("never", "failed", "elsewhere"):
            links.append((reverse("admin:exchanges_exchange_conformance_override",
                                  args=[obj.pk, "set"]), "Override the gate…"))
        runs = (reverse("admin:exchanges_conformancerun_changelist")
                + f"?exchange__id__exact={obj.pk}")
        links.append((runs, "All checks"))
        return format_html(
            "{} {}<br><span class=\"help\">Run <code>manage.py exchange {} conformance "
            "[--place-test-order] [--apply]</code> to check it.</span>",
            state.label, format_html_join(" ", '<a class="button" href="{}">{}</a>', links),
            obj.name)

    @admin.display(description="last check")
    def conformance_last_run(self, obj: Exchange) -> str:
        run = obj.conformance_runs.first() if obj.pk else None
        if run is None:
            return "-"
        return _run_table(run)

    @admin.display(description="API key expires")
    def api_key_expires(self, obj: Exchange) -> str:
        if obj.pk is None:
            return "-"
        expiry = api_key_expiry(obj)
        return f"{expiry.describe()}" + (f" [{expiry.doc}]" if expiry.doc else "")

    @admin.display(description="rules and fees read")
    def rules_read(self, obj: Exchange) -> str:
        if obj.rules_read_at is None:
            return "never (manage.py setup, then daily)"
        text = f"{obj.rules_read_at:%Y-%m-%d %H:%M} UTC"
        if obj.rules_read_problems:
            return format_html("{}; not read: {}", text, obj.rules_read_problems)
        return text

    @admin.display(description="wire variants")
    def wire_variants_shown(self, obj: Exchange) -> str:
        """Read-only here: set by the conformance check (issue 11)."""
        chosen = obj.wire_variants or {}
        parts = [f"{name}={chosen.get(name, v.default)}"
                 + ("" if name in chosen else " (default)")
                 for name, v in sorted(variants_for(obj.adapter).items())]
        return ", ".join(parts) or "-"


@admin.register(Market)
class MarketAdmin(GuardedHistoryAdmin):
    list_display = ("code", "base", "quote", "enabled", "created_at", "controls")
    list_filter = ("enabled", "quote")
    search_fields = ("base", "quote")
    ordering = ("base", "quote")
    history_list_display = ("enabled",)

    def get_list_display(self, request: HttpRequest):
        return _without_controls(request, super().get_list_display(request))

    @admin.display(description="control")
    def controls(self, obj: Market) -> str:
        controls = row_controls()
        return control_links(controls.market_links(obj)) if controls else ""


def _rule(value, asset: str = "") -> str:
    """A listing's rule as an operator types it (no trailing zeros), with its unit."""
    text = formatting.number(value)
    return f"{text} {formatting.unit(asset)}" if asset else text


def _run_table(run: ConformanceRun) -> str:
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong></td></tr>",
        ((r.get("point"), r.get("assumed"), r.get("answered"), r.get("verdict"))
         for r in run.rows or []))
    return format_html(
        "{} at {} UTC against {} by {}{}<table><thead><tr><th>point</th>"
        "<th>what we assume</th><th>what the exchange answered</th><th>verdict</th></tr>"
        "</thead><tbody>{}</tbody></table>",
        run.result, f"{run.finished_at:%Y-%m-%d %H:%M}", run.base_url, run.actor,
        " (with a test order)" if run.test_order else "", rows)


@admin.register(ConformanceRun)
class ConformanceRunAdmin(admin.ModelAdmin):
    """Every conformance check, as it was: read-only."""

    list_display = ("exchange", "started_at", "result", "test_order", "applied", "base_url",
                    "actor")
    list_filter = ("exchange", "result", "test_order", "applied")
    list_select_related = ("exchange",)
    fields = ("exchange", "started_at", "finished_at", "base_url", "result", "failed",
              "test_order", "applied", "observed_variants", "variants_before", "actor", "table")
    readonly_fields = fields

    @admin.display(description="points")
    def table(self, obj: ConformanceRun) -> str:
        return _run_table(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ExchangeMarketForm(PlainDecimalsForm):
    release_operator_rules = forms.MultipleChoiceField(
        label="Let the exchange's rules apply again to", required=False,
        choices=[(name, name.replace("_", " ")) for name in RULE_FIELDS],
        widget=forms.CheckboxSelectMultiple,
        help_text="A rule changed here by hand is kept when the exchange's published rule "
                  "is looser; tick it to let the exchange's rules set it again.",
    )

    class Meta:
        model = ExchangeMarket
        fields = ("exchange", "market", "symbol", "price_scale", "amount_step", "price_tick",
                  "min_order_value", "enabled")


@admin.register(ExchangeMarket)
class ExchangeMarketAdmin(GuardedHistoryAdmin):
    form = ExchangeMarketForm
    list_display = ("exchange", "market", "symbol", "price_unit", "amount_step_shown",
                    "price_tick_shown", "min_order_value_shown", "set_by_operator",
                    "rules_read_at", "enabled")
    list_filter = ("exchange", "enabled")
    list_select_related = ("exchange", "market")
    search_fields = ("symbol", "market__base", "market__quote")
    readonly_fields = ("set_by_operator", "rules_read_at")
    history_list_display = ("amount_step", "price_tick", "min_order_value")

    @admin.display(description="exchange's price unit", ordering="price_scale")
    def price_unit(self, obj: ExchangeMarket) -> str:
        if obj.price_scale == 1:
            return formatting.unit(obj.market.quote)
        if obj.market.quote == "IRR" and obj.price_scale == 10:
            return "toman (× 10 = rial)"
        return f"× {formatting.number(obj.price_scale)} = {formatting.unit(obj.market.quote)}"

    @admin.display(description="amount step", ordering="amount_step")
    def amount_step_shown(self, obj: ExchangeMarket) -> str:
        return _rule(obj.amount_step, obj.market.base)

    @admin.display(description="price tick", ordering="price_tick")
    def price_tick_shown(self, obj: ExchangeMarket) -> str:
        return _rule(obj.price_tick, obj.market.quote)

    @admin.display(description="minimum order value", ordering="min_order_value")
    def min_order_value_shown(self, obj: ExchangeMarket) -> str:
        return formatting.money(obj.min_order_value, obj.market.quote)

    @admin.display(description="set by hand")
    def set_by_operator(self, obj: ExchangeMarket) -> str:
        return _operator_rules(obj)

    def save_model(self, request: HttpRequest, obj: ExchangeMarket, form, change: bool) -> None:
        _mark_operator_rules(request, form)
        released = operator_rules_release(
            listing=obj, fields=list(form.cleaned_data.get("release_operator_rules") or []))
        if released:
            obj._change_reason = f"exchange's rules apply again to {', '.join(released)}"
        super().save_model(request, obj, form, change)
