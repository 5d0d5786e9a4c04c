"""The operator's view of trading. Audit records (events, fills) are
read-only for everyone; orders are changed only through the state machine,
so their status, quantities, prices and ids are never edited here."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from arbsite import formatting
from arbsite.admin_forms import PlainDecimalsForm
from arbsite.admin_guards import GuardedHistoryAdmin
from arbsite.admin_paginator import LargeTablePaginator
from arbsite.adminsite import Confirm, confirm_view
from exchanges.states import OrderState
from trading import display
from trading.models import (
    DailyRiskSnapshot,
    Opportunity,
    OpportunityEvent,
    OpportunityRollup,
    Order,
    OrderEvent,
    PairProtection,
    ReportDay,
    RiskSettings,
    Trade,
    TradeRollup,
)
from trading.services import control
from trading.services.orders import IllegalTransition
from trading.services.protections import protection_end


def _link(obj, label: str | None = None) -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def _in_zone(label: str) -> str:
    return f"{label} ({formatting.zone_label()})"


# Column headings that carry the trading day's zone ("created (Tehran)"),
# read when the page renders (TRADING_DAY_TZ may differ per deployment).
in_zone = lazy(_in_zone, str)


def _num(text: str) -> str:
    """A figure in a list cell: right-aligned, on one line (admin base_site.html)."""
    return format_html('<span class="arb-num">{}</span>', text)


def _when(value) -> str:
    """A moment in a list cell: trading-day time with seconds; the UTC moment
    as its tooltip; the zone's label is in the column heading."""
    if value is None:
        return formatting.EMPTY
    day, _, clock = formatting.moment(value, label=False).partition(" ")
    return format_html('<span class="arb-when" title="{}">{}<br>{}</span>',
                       formatting.moment_utc(value), day, clock)


def _moment(value) -> str:
    """A moment on a detail page: trading-day time with seconds and the zone."""
    if value is None:
        return formatting.EMPTY
    return format_html('<span title="{}">{}</span>', formatting.moment_utc(value),
                       formatting.moment(value))


STATUS_TONES = {"filled": "ok", "done": "ok", "open": "live", "partially_filled": "live",
                "pending_submit": "live", "detected": "live", "executing": "live",
                "unknown": "bad", "rejected": "bad", "failed": "bad", "unwound": "warn",
                "partial": "warn", "cancelled": "quiet", "expired": "quiet"}


def _status(value: str, label: str) -> str:
    return format_html('<span class="arb-status arb-{}">{}</span>',
                       STATUS_TONES.get(value, "quiet"), label)


class LargeTableMixin:
    """A list over a table of millions of rows: no full count (a capped or
    estimated one, ``arbsite/admin_paginator.py``) and no date drill-down
    (its year, month and day links read every row's date on each page;
    the date filter, today / 7 days / month / year, costs nothing to show
    and uses the date's index)."""

    paginator = LargeTablePaginator
    show_full_result_count = False
    date_hierarchy = None

    def get_paginator(self, request: HttpRequest, queryset, per_page, orphans=0,
                      allow_empty_first_page=True):
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page,
                              show_all_max=self.list_max_show_all)

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj) -> str:
        """Django's checkbox, written out: its widget renders a template per
        row (a fifth of a 100-row page's time). Same markup, same label."""
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" '
                           'aria-label="Select this object for an action - {}">',
                           ACTION_CHECKBOX_NAME, obj.pk, str(obj))


class ReadOnlyAdminMixin:
    """No add, change or delete, not even for a superuser; no bulk delete."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class NoDeleteAdminMixin:
    """Trading records are history: they are never deleted from the admin."""

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class OrderEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderEvent
    fields = ("when", "kind", "from_status", "to_status", "filled", "source", "message")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    show_change_link = True

    @admin.display(description=in_zone("when"))
    def when(self, obj: OrderEvent) -> str:
        return _when(obj.created_at)

    @admin.display(description="filled after")
    def filled(self, obj: OrderEvent) -> str:
        return _num(display.order_quantity(obj.order, obj.filled_quantity))


class OpportunityEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The opportunity's history: claimed, refused, expired, settled."""

    model = OpportunityEvent
    fields = ("when", "from_status", "to_status", "source", "what")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0

    @admin.display(description=in_zone("when"))
    def when(self, obj: OpportunityEvent) -> str:
        return _when(obj.created_at)

    @admin.display(description="message")
    def what(self, obj: OpportunityEvent) -> str:
        return display.reason_readable(obj.message)


class TradeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Trade
    fields = ("executed", "exchange_trade_id", "side", "price_shown", "quantity_shown",
              "value_shown", "fee_shown")
    readonly_fields = fields
    extra = 0

    @admin.display(description=in_zone("executed"))
    def executed(self, obj: Trade) -> str:
        return _when(obj.executed_at)

    @admin.display(description="price")
    def price_shown(self, obj: Trade) -> str:
        return _num(display.trade_price(obj))

    @admin.display(description="quantity")
    def quantity_shown(self, obj: Trade) -> str:
        return _num(display.trade_quantity(obj))

    @admin.display(description="value")
    def value_shown(self, obj: Trade) -> str:
        return _num(display.trade_value(obj))

    @admin.display(description="fee")
    def fee_shown(self, obj: Trade) -> str:
        return _num(display.trade_fee(obj))


class OrderInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Order
    fields = ("exchange", "side_purpose", "quantity_shown", "price_shown", "status_shown",
              "filled_shown", "average_shown", "fee_shown")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    @admin.display(description="side")
    def side_purpose(self, obj: Order) -> str:
        return format_html('{} <span class="arb-quiet">· {}</span>', obj.side,
                           obj.get_purpose_display())

    @admin.display(description="quantity")
    def quantity_shown(self, obj: Order) -> str:
        return _num(display.order_quantity(obj))

    @admin.display(description="limit price")
    def price_shown(self, obj: Order) -> str:
        return _num(display.order_price(obj))

    @admin.display(description="status")
    def status_shown(self, obj: Order) -> str:
        return _status(obj.status, obj.get_status_display())

    @admin.display(description="filled")
    def filled_shown(self, obj: Order) -> str:
        if not obj.filled_quantity:
            return mark_safe('<span class="arb-num arb-quiet">none</span>')  # noqa: S308 - a constant
        return _num(display.order_filled(obj))

    @admin.display(description="average price")
    def average_shown(self, obj: Order) -> str:
        return _num(display.order_average(obj))

    @admin.display(description="fee")
    def fee_shown(self, obj: Order) -> str:
        return _num(display.order_fee(obj))


class OrderForm(forms.ModelForm):
    """Only notes and tags are editable; tags are normalised (lower case,
    comma-separated, no duplicates)."""

    class Meta:
        model = Order
        fields = ("notes", "tags")

    def clean_tags(self) -> str:
        raw = self.cleaned_data.get("tags") or ""
        tags = list(dict.fromkeys(t.strip().lower() for t in raw.split(",") if t.strip()))
        return ", ".join(tags)


class ResolveForm(forms.Form):
    to_status = forms.ChoiceField(label="Resolve as")
    filled_quantity = forms.DecimalField(
        required=False, min_value=Decimal("0"),
        help_text="Base amount filled; blank keeps the recorded fill (filled: the whole order).",
    )
    average_price = forms.DecimalField(required=False, min_value=Decimal("0"),
                                       help_text="Average fill price (rial), if known.")

    def __init__(self, *args, choices: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [(c, OrderState(c).label) for c in choices]


def _ids(request: HttpRequest) -> list[int]:
    raw = request.GET.get("ids", "")
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        return []


@admin.register(Order)
class OrderAdmin(LargeTableMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    form = OrderForm
    # Fits 1400 px (tests/admin/test_pages_browser.py): side and purpose in
    # one cell, the client order id cut to its start (searchable in full).
    list_display = ("order_ref", "created", "where", "side_purpose", "quantity_shown",
                    "price_shown", "status_shown", "filled_shown", "average_shown",
                    "opportunity_link")
    list_filter = ("status", "needs_human", "exchange", "market", "purpose", "side",
                   "is_external", "created_at")
    search_fields = ("client_order_id", "exchange_order_id", "notes", "tags")
    list_select_related = ("exchange", "market", "opportunity")
    ordering = ("-created_at", "-id")
    inlines = (OrderEventInline, TradeInline)
    actions = ("cancel_selected", "resync_selected", "mark_checked_selected")
    readonly_fields = ("opportunity", "exchange", "market", "client_order_id",
                       "exchange_order_id", "purpose", "side", "order_type", "quantity_shown",
                       "price_shown", "status_shown", "status_reason", "filled_shown",
                       "average_shown", "fee_shown", "is_external", "needs_human",
                       "not_found_since_shown",
                       "created_shown", "submitted_shown", "last_synced_shown",
                       "updated_shown")
    fields = readonly_fields[:-4] + ("notes", "tags") + readonly_fields[-4:]

    @admin.display(description="order", ordering="client_order_id")
    def order_ref(self, obj: Order) -> str:
        return format_html('<code title="{}">{}</code>', obj.client_order_id,
                           display.client_id_short(obj.client_order_id))

    @admin.display(description=in_zone("created"), ordering="created_at")
    def created(self, obj: Order) -> str:
        return _when(obj.created_at)

    @admin.display(description="exchange, market", ordering="exchange__name")
    def where(self, obj: Order) -> str:
        return format_html('{}<br><span class="arb-quiet">{}</span>', obj.exchange.name,
                           obj.market.code)

    @admin.display(description="side", ordering="side")
    def side_purpose(self, obj: Order) -> str:
        if obj.purpose == Order.Purpose.ENTRY:
            return obj.side
        return format_html('{} <span class="arb-quiet">· {}</span>', obj.side,
                           obj.get_purpose_display())

    @admin.display(description="quantity", ordering="quantity")
    def quantity_shown(self, obj: Order) -> str:
        return _num(display.order_quantity(obj))

    @admin.display(description="limit price", ordering="price")
    def price_shown(self, obj: Order) -> str:
        return _num(display.order_price(obj))

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj: Order) -> str:
        extra = []
        if obj.needs_human:
            extra.append("needs a human")
        if obj.is_external:
            extra.append("external")
        if obj.tags:
            extra.append(obj.tags)
        if not extra:
            return _status(obj.status, obj.get_status_display())
        return format_html('{}<br><span class="arb-quiet">{}</span>',
                           _status(obj.status, obj.get_status_display()), " · ".join(extra))

    @admin.display(description="filled", ordering="filled_quantity")
    def filled_shown(self, obj: Order) -> str:
        if not obj.filled_quantity:
            return mark_safe('<span class="arb-num arb-quiet">none</span>')  # noqa: S308 - a constant
        return _num(display.order_filled(obj))

    @admin.display(description="average price", ordering="average_price")
    def average_shown(self, obj: Order) -> str:
        return _num(display.order_average(obj))

    @admin.display(description="fee")
    def fee_shown(self, obj: Order) -> str:
        return display.order_fee(obj)

    @admin.display(description="not found since")
    def not_found_since_shown(self, obj: Order) -> str:
        return _moment(obj.not_found_since)

    @admin.display(description="created")
    def created_shown(self, obj: Order) -> str:
        return _moment(obj.created_at)

    @admin.display(description="submitted")
    def submitted_shown(self, obj: Order) -> str:
        return _moment(obj.submitted_at)

    @admin.display(description="last synced")
    def last_synced_shown(self, obj: Order) -> str:
        return _moment(obj.last_synced_at)

    @admin.display(description="updated")
    def updated_shown(self, obj: Order) -> str:
        return _moment(obj.updated_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_cancel_orders_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.can_cancel_orders")

    def has_resync_orders_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.can_resync_orders")

    @admin.display(description="opportunity", ordering="opportunity")
    def opportunity_link(self, obj: Order) -> str:
        return _link(obj.opportunity, f"#{obj.opportunity_id}") if obj.opportunity_id else "-"

    # --- actions: the list's selection goes to a confirmation page ---------------

    @admin.action(description="Cancel selected orders on their exchange…",
                  permissions=["cancel_orders"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:trading_order_cancel')}?ids={ids}")

    @admin.action(description="Resync selected orders from their exchange…",
                  permissions=["resync_orders"])
    def resync_selected(self, request: HttpRequest, queryset: QuerySet[Order]):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:trading_order_resync')}?ids={ids}")

    @admin.action(description="Mark selected orders checked (clear \u201cneeds a human\u201d)…",
                  permissions=["resync_orders"])
    def mark_checked_selected(self, request: HttpRequest, queryset: QuerySet[Order]):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:trading_order_checked')}?ids={ids}")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("cancel/", view(self.cancel_view), name="trading_order_cancel"),
            path("resync/", view(self.resync_view), name="trading_order_resync"),
            path("checked/", view(self.checked_view), name="trading_order_checked"),
            path("<int:pk>/resolve/", view(self.resolve_view), name="trading_order_resolve"),
        ] + super().get_urls()

    def _bulk(self, request: HttpRequest, *, verb: str, permission: str, perform_service,
              reason_required: bool, question: str) -> HttpResponse:
        orders = list(Order.objects.filter(pk__in=_ids(request))
                      .select_related("exchange", "market").order_by("pk"))
        back = reverse("admin:trading_order_changelist")
        if not orders and request.user.has_perm(permission):
            self.message_user(request, "No orders selected.", messages.WARNING)
            return HttpResponseRedirect(back)

        def perform(reason: str) -> tuple[int, str]:
            outcomes = perform_service(order_ids=[o.pk for o in orders], user=request.user,
                                       reason=reason)
            by_id = {o.pk: o for o in orders}
            for outcome in outcomes:
                self.log_change(request, by_id[outcome.order_id],
                                f"{verb}: {outcome.detail}. Reason: {reason or '-'}")
            lines = [f"{o.client_order_id}: {o.detail}" for o in outcomes]
            level = messages.SUCCESS if all(o.ok for o in outcomes) else messages.WARNING
            return level, f"{verb} of {len(outcomes)} order(s) — " + "; ".join(lines)

        return confirm_view(self.admin_site, request, Confirm(
            title=f"{verb} {len(orders)} order{'s' if len(orders) != 1 else ''}",
            question=question,
            details=[f"{o.client_order_id}: {display.order_title(o)}, "
                     f"{o.get_status_display()}" for o in orders],
            permission=permission, perform=perform, back_url=back,
            reason_required=reason_required, button=f"{verb} them",
            danger=reason_required,
        ))

    def cancel_view(self, request: HttpRequest) -> HttpResponse:
        return self._bulk(
            request, verb="Cancel", permission="trading.can_cancel_orders",
            perform_service=control.orders_cancel, reason_required=True,
            question=("Ask each order's exchange to cancel it, then read its status back. "
                      "Filled parts stay filled."),
        )

    def resync_view(self, request: HttpRequest) -> HttpResponse:
        return self._bulk(
            request, verb="Resync", permission="trading.can_resync_orders",
            perform_service=control.orders_resync, reason_required=False,
            question="Read each order from its exchange and apply what it says.",
        )

    def checked_view(self, request: HttpRequest) -> HttpResponse:
        return self._bulk(
            request, verb="Mark checked", permission="trading.can_resync_orders",
            perform_service=control.orders_mark_checked, reason_required=True,
            question=("You have looked at each order's history (its error or id conflict) "
                      "and settled what needed settling: clear its \u201cneeds a human\u201d "
                      "flag. Nothing is sent to the exchange."),
        )

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order.objects.select_related("exchange", "market"), pk=pk)
        back = reverse("admin:trading_order_change", args=[order.pk])
        choices = control.order_resolution_choices(order)
        if not choices and request.user.has_perm("trading.can_resolve_orders"):
            self.message_user(request, f"Order {order.client_order_id} ({order.status}) is "
                              "neither unknown nor a live external order: nothing to resolve.",
                              messages.WARNING)
            return HttpResponseRedirect(back)
        extra = ResolveForm(request.POST if request.method == "POST" else None,
                            choices=choices)

        def perform(reason: str) -> tuple[int, str]:
            data = extra.cleaned_data
            try:
                result = control.order_resolve(
                    order_id=order.pk, to_status=data["to_status"], user=request.user,
                    reason=reason, filled_quantity=data.get("filled_quantity"),
                    average_price=data.get("average_price"),
                )
            except IllegalTransition as exc:
                return messages.ERROR, f"Not resolved: {exc}"
            self.log_change(request, order, f"Resolved by hand as {result.order.status}. "
                                            f"Reason: {reason}")
            return messages.SUCCESS, (f"Order {order.client_order_id} resolved as "
                                      f"{result.order.status}.")

        return confirm_view(self.admin_site, request, Confirm(
            title=f"Resolve order {order.client_order_id} by hand",
            question=("Settle what the exchange could not tell. The change goes through the "
                      "order state machine and is recorded with your reason."),
            details=[f"{display.order_title(order)}; now {order.get_status_display()}, "
                     f"filled {display.order_filled(order)}"
                     + (" (external)" if order.is_external else "")],
            permission="trading.can_resolve_orders", perform=perform, back_url=back,
            button="Resolve", danger=True,
        ), extra_form=extra)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            user = request.user
            extra_context.update({
                "can_cancel": user.has_perm("trading.can_cancel_orders") and order.is_live,
                "can_resync": user.has_perm("trading.can_resync_orders"),
                "can_resolve": (user.has_perm("trading.can_resolve_orders")
                                and control.order_resolvable(order)),
            })
        return super().change_view(request, object_id, form_url, extra_context)


class EventSourceFilter(admin.SimpleListFilter):
    """Who wrote the event, by the fixed prefixes of ``source``: a filter on
    the field's values would read every event's source (SELECT DISTINCT) on
    each page of the list."""

    title = "source"
    parameter_name = "source"
    SOURCES = ("executor", "sync", "recovery")

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(s, s) for s in self.SOURCES] + [("admin", "an operator (admin:…)"),
                                                 ("other", "other")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in self.SOURCES:
            return queryset.filter(source=value)
        if value == "admin":
            return queryset.filter(source__startswith="admin:")
        if value == "other":
            return queryset.exclude(source__in=self.SOURCES).exclude(source__startswith="admin:")
        return queryset


@admin.register(OrderEvent)
class OrderEventAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("when", "order_link", "kind", "from_status", "to_status", "filled",
                    "source", "what")
    list_filter = ("kind", "to_status", EventSourceFilter, "created_at")
    search_fields = ("order__client_order_id", "order__exchange_order_id", "source", "message")
    list_select_related = ("order",)
    ordering = ("-created_at", "-id")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description=in_zone("when"), ordering="created_at")
    def when(self, obj: OrderEvent) -> str:
        return _when(obj.created_at)

    @admin.display(description="order", ordering="order")
    def order_link(self, obj: OrderEvent) -> str:
        return _link(obj.order, obj.order.client_order_id)

    @admin.display(description="filled after", ordering="filled_quantity")
    def filled(self, obj: OrderEvent) -> str:
        return _num(display.order_quantity(obj.order, obj.filled_quantity))

    @admin.display(description="message")
    def what(self, obj: OrderEvent) -> str:
        return format_html('<span class="arb-text">{}</span>', obj.message)


@admin.register(Trade)
class TradeAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("executed", "exchange", "market", "side", "price_shown", "quantity_shown",
                    "value_shown", "fee_shown", "order_link", "exchange_trade_id")
    list_filter = ("exchange", "market", "side", "executed_at")
    search_fields = ("exchange_trade_id", "order__client_order_id", "order__exchange_order_id")
    list_select_related = ("exchange", "market", "order")
    ordering = ("-executed_at", "-id")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description=in_zone("executed"), ordering="executed_at")
    def executed(self, obj: Trade) -> str:
        return _when(obj.executed_at)

    @admin.display(description="price", ordering="price")
    def price_shown(self, obj: Trade) -> str:
        return _num(display.trade_price(obj))

    @admin.display(description="quantity", ordering="quantity")
    def quantity_shown(self, obj: Trade) -> str:
        return _num(display.trade_quantity(obj))

    @admin.display(description="value", ordering="quote_amount")
    def value_shown(self, obj: Trade) -> str:
        return _num(display.trade_value(obj))

    @admin.display(description="fee", ordering="fee")
    def fee_shown(self, obj: Trade) -> str:
        return _num(display.trade_fee(obj))

    @admin.display(description="order", ordering="order")
    def order_link(self, obj: Trade) -> str:
        return _link(obj.order, obj.order.client_order_id) if obj.order_id else "-"


REALIZED = "realized P&L (after fees)"


@admin.register(Opportunity)
class OpportunityAdmin(LargeTableMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    # Fits 1400 px (tests/admin/test_pages_browser.py): the route in one
    # cell, the profit with its percentage, the unit on every figure.
    list_display = ("id", "created", "market", "route", "quantity_shown", "expected",
                    "status_shown", "realized")
    list_display_links = ("id",)
    list_filter = ("status", "market", "buy_exchange", "sell_exchange", "created_at")
    search_fields = ("id", "reason", "orders__client_order_id")
    list_select_related = ("market", "buy_exchange", "sell_exchange")
    ordering = ("-created_at", "-id")
    inlines = (OpportunityEventInline, OrderInline)
    fieldsets = (
        (None, {"fields": ("market", "legs", "status_badge", "reason_shown")}),
        ("Size and prices", {"fields": ("quantity_shown", "buy_price_shown", "sell_price_shown",
                                        "buy_vwap_shown", "sell_vwap_shown", "fee_rates")}),
        ("Result", {"fields": ("expected", "worst_case", "realized")}),
        ("Timing", {"fields": ("created_shown", "book_ages", "executed_shown",
                               "closed_shown")}),
    )
    readonly_fields = ("market", "legs", "status_badge", "reason_shown", "quantity_shown",
                       "buy_price_shown", "sell_price_shown", "buy_vwap_shown",
                       "sell_vwap_shown", "fee_rates", "expected", "worst_case", "realized",
                       "created_shown",
                       "book_ages", "executed_shown", "closed_shown")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        extra_context = extra_context or {}
        opportunity = self.get_object(request, object_id)
        if opportunity is not None:
            extra_context["decision"] = display.opportunity_decision(opportunity)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=in_zone("seen"), ordering="created_at")
    def created(self, obj: Opportunity) -> str:
        return _when(obj.created_at)

    @admin.display(description="buy → sell")
    def route(self, obj: Opportunity) -> str:
        return display.opportunity_route(obj)

    @admin.display(description="quantity", ordering="quantity")
    def quantity_shown(self, obj: Opportunity) -> str:
        return _num(display.opportunity_quantity(obj))

    @admin.display(description="expected profit (after fees)", ordering="expected_profit")
    def expected(self, obj: Opportunity) -> str:
        return _num(display.opportunity_expected(obj))

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj: Opportunity) -> str:
        badge = _status(obj.status, obj.get_status_display())
        if not obj.reason:
            return badge
        reason = display.reason_readable(obj.reason)
        short = reason if len(reason) <= 140 else f"{reason[:138]}…"
        return format_html('{} <span class="arb-quiet" title="{}">{}</span>', badge, reason,
                           short)

    @admin.display(description=REALIZED, ordering="realized_pnl")
    def realized(self, obj: Opportunity) -> str:
        return _num(display.opportunity_realized(obj))

    @admin.display(description="legs")
    def legs(self, obj: Opportunity) -> str:
        return (f"buy on {display.exchange_name(obj.buy_exchange_id)}, "
                f"sell on {display.exchange_name(obj.sell_exchange_id)}")

    @admin.display(description="status")
    def status_badge(self, obj: Opportunity) -> str:
        return _status(obj.status, obj.get_status_display())

    @admin.display(description="what became of it")
    def reason_shown(self, obj: Opportunity) -> str:
        return display.reason_readable(obj.reason) or formatting.EMPTY

    @admin.display(description="buy limit (worst ask the size needs + slippage buffer)")
    def buy_price_shown(self, obj: Opportunity) -> str:
        return display.opportunity_price(obj, "buy")

    @admin.display(description="sell limit (worst bid the size needs − slippage buffer)")
    def sell_price_shown(self, obj: Opportunity) -> str:
        return display.opportunity_price(obj, "sell")

    @admin.display(description="worst case (both legs filled at their limits, after fees)")
    def worst_case(self, obj: Opportunity) -> str:
        return _num(display.opportunity_worst_case(obj))

    @admin.display(description="buy average (depth-weighted)")
    def buy_vwap_shown(self, obj: Opportunity) -> str:
        return display.opportunity_price(obj, "buy", vwap=True)

    @admin.display(description="sell average (depth-weighted)")
    def sell_vwap_shown(self, obj: Opportunity) -> str:
        return display.opportunity_price(obj, "sell", vwap=True)

    @admin.display(description="taker fees")
    def fee_rates(self, obj: Opportunity) -> str:
        return (f"buy {formatting.rate(obj.buy_fee_rate)}, "
                f"sell {formatting.rate(obj.sell_fee_rate)}")

    @admin.display(description="seen")
    def created_shown(self, obj: Opportunity) -> str:
        return _moment(obj.created_at)

    @admin.display(description="book ages when seen")
    def book_ages(self, obj: Opportunity) -> str:
        return (f"buy {formatting.milliseconds(obj.buy_book_age_ms)}, "
                f"sell {formatting.milliseconds(obj.sell_book_age_ms)}")

    @admin.display(description="executed")
    def executed_shown(self, obj: Opportunity) -> str:
        return _moment(obj.executed_at)

    @admin.display(description="closed")
    def closed_shown(self, obj: Opportunity) -> str:
        return _moment(obj.closed_at)


def _quote_money(field_name: str, asset: str, description: str, **kwargs):
    """A list column showing a money field of ``asset`` with its unit."""
    @admin.display(description=description, ordering=field_name)
    def column(self, obj) -> str:
        return _num(formatting.money(getattr(obj, field_name), asset, **kwargs))

    return column


@admin.register(DailyRiskSnapshot)
class DailyRiskSnapshotAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ("day", "pnl_irr", "pnl_usdt", "fees_irr_shown", "fees_usdt_shown",
                    "volume_irr_shown", "trade_count", "round_trips", "kill_switch_active",
                    "closed", "updated")
    list_filter = ("closed", "kill_switch_active")
    date_hierarchy = "day"
    ordering = ("-day",)

    pnl_irr = _quote_money("realized_pnl_irr", "IRR", "realized P&L rial (after fees)",
                           signed=True)
    pnl_usdt = _quote_money("realized_pnl_usdt", "USDT", "realized P&L USDT (after fees)",
                            signed=True)
    fees_irr_shown = _quote_money("fees_irr", "IRR", "fees rial")
    fees_usdt_shown = _quote_money("fees_usdt", "USDT", "fees USDT")
    volume_irr_shown = _quote_money("volume_irr", "IRR", "volume rial")

    @admin.display(description=in_zone("updated"), ordering="updated_at")
    def updated(self, obj: DailyRiskSnapshot) -> str:
        return _when(obj.updated_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RiskSettings)
class RiskSettingsAdmin(GuardedHistoryAdmin):
    """Limits are edited here (every change kept in its history); the kill
    switch only through its confirmed action on the control panel.

    No history revert: it restores the whole row, kill switch included, so
    it would switch trading on or off without the confirmed action. A past
    limit is typed back into the change form (its history shows the value)."""

    history_revert = False

    form = PlainDecimalsForm
    list_display = ("__str__", "kill_switch", "daily_loss_irr", "order_value_irr",
                    "min_profit", "book_age", "updated", "updated_by")
    readonly_fields = ("kill_switch_state", "kill_switch", "kill_switch_reason",
                       "kill_switch_set_by", "kill_switch_set_at_shown", "updated_shown",
                       "updated_by")
    history_list_display = ("kill_switch", "max_daily_loss_irr", "max_order_value_irr",
                            "min_profit_pct")

    daily_loss_irr = _quote_money("max_daily_loss_irr", "IRR", "max daily loss")
    order_value_irr = _quote_money("max_order_value_irr", "IRR", "max order value")

    @admin.display(description="min profit")
    def min_profit(self, obj: RiskSettings) -> str:
        return (f"{formatting.percent(obj.min_profit_pct, 2)} and "
                f"{formatting.money(obj.min_profit_irr, 'IRR')}")

    @admin.display(description="max book age")
    def book_age(self, obj: RiskSettings) -> str:
        return formatting.milliseconds(obj.max_book_age_ms)

    @admin.display(description=in_zone("updated"), ordering="updated_at")
    def updated(self, obj: RiskSettings) -> str:
        return _when(obj.updated_at)

    @admin.display(description="updated")
    def updated_shown(self, obj: RiskSettings) -> str:
        return _moment(obj.updated_at)

    @admin.display(description="kill switch set at")
    def kill_switch_set_at_shown(self, obj: RiskSettings) -> str:
        return _moment(obj.kill_switch_set_at)

    @admin.display(description="kill switch")
    def kill_switch_state(self, obj: RiskSettings) -> str:
        target = "off" if obj.kill_switch else "on"
        label = "Reset it…" if obj.kill_switch else "Trip it…"
        return format_html('{} — <a href="{}">{}</a>', "ON" if obj.kill_switch else "off",
                           reverse("admin:control_kill_switch", args=[target]), label)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RiskSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RiskSettings, form, change: bool) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(PairProtection)
class PairProtectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Markets and directions paused after repeated unwinds or failed round
    trips (``trading.services.protections``; the thresholds are in the risk
    settings). Written by settlement, never by hand: read-only, except that
    an operator may end one in force early, through a confirmed action."""

    list_display = ("id", "started", "market", "direction", "until_shown", "state", "reason")
    list_filter = ("market", "buy_exchange", "sell_exchange", "started_at")
    list_select_related = ("market", "buy_exchange", "sell_exchange")
    ordering = ("-started_at", "-id")
    fields = ("market", "direction", "state", "reason", "opportunity_ids", "started_shown",
              "until_shown", "ended_by", "ended_reason", "end_link")
    readonly_fields = fields

    @admin.display(description=in_zone("started"), ordering="started_at")
    def started(self, obj: PairProtection) -> str:
        return _when(obj.started_at)

    @admin.display(description="started")
    def started_shown(self, obj: PairProtection) -> str:
        return _moment(obj.started_at)

    @admin.display(description="until", ordering="until")
    def until_shown(self, obj: PairProtection) -> str:
        return _moment(obj.until)

    @admin.display(description="direction")
    def direction(self, obj: PairProtection) -> str:
        return f"buy {obj.buy_exchange.name} → sell {obj.sell_exchange.name}"

    @admin.display(description="state")
    def state(self, obj: PairProtection) -> str:
        if obj.until > timezone.now():
            return _status("failed", "in force")
        if obj.ended_at is not None:
            return _status("cancelled", f"ended early by {obj.ended_by}")
        return _status("expired", "expired")

    @admin.display(description="end early")
    def end_link(self, obj: PairProtection) -> str:
        if obj.until <= timezone.now():
            return "-"
        return format_html('<a href="{}">End it now…</a>',
                           reverse("admin:trading_pairprotection_end", args=[obj.pk]))

    def get_urls(self):
        return [path("<int:pk>/end/", self.admin_site.admin_view(self.end_view),
                     name="trading_pairprotection_end")] + super().get_urls()

    def end_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        protection = get_object_or_404(
            PairProtection.objects.select_related("market", "buy_exchange", "sell_exchange"),
            pk=pk)
        back = reverse("admin:trading_pairprotection_change", args=[pk])

        def perform(reason: str) -> tuple[int, str]:
            if protection_end(protection_id=pk, actor=control.actor(request.user),
                              reason=reason):
                return messages.SUCCESS, (f"Protection #{pk} ended: {protection.market.code} "
                                          f"{self.direction(protection)} may trade again.")
            return messages.WARNING, f"Protection #{pk} had already ended; nothing changed."

        return confirm_view(self.admin_site, request, Confirm(
            title=f"End protection #{pk} early",
            question=("Let detection trade this market and direction again now, before its "
                      "cooldown ends. It paused after repeated unwinds or failures: say why "
                      "it is safe."),
            details=[f"{protection.market.code} {self.direction(protection)}",
                     f"until {formatting.moment(protection.until)}", protection.reason],
            permission="trading.can_end_protection", perform=perform, back_url=back,
            button="End it now", danger=True, log_object=protection,
        ))


@admin.register(ReportDay)
class ReportDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Closed days whose report rollups are written (derived data, rebuilt
    from fills and opportunities; read-only)."""

    list_display = ("day", "timezone")
    date_hierarchy = "day"
    ordering = ("-day",)

    def get_actions(self, request: HttpRequest):
        return {}


@admin.register(OpportunityRollup)
class OpportunityRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("day", "market", "buy_exchange", "sell_exchange", "status", "count",
                    "wins", "pnl", "best_shown", "worst_shown")
    list_filter = ("status", "quote_asset", "market")
    list_select_related = ("market", "buy_exchange", "sell_exchange")
    date_hierarchy = "day"
    ordering = ("-day", "market")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description=REALIZED, ordering="realized_pnl")
    def pnl(self, obj: OpportunityRollup) -> str:
        return _num(formatting.money(obj.realized_pnl, obj.quote_asset, signed=True))

    @admin.display(description="best", ordering="best")
    def best_shown(self, obj: OpportunityRollup) -> str:
        return _num(formatting.money(obj.best, obj.quote_asset, signed=True))

    @admin.display(description="worst", ordering="worst")
    def worst_shown(self, obj: OpportunityRollup) -> str:
        return _num(formatting.money(obj.worst, obj.quote_asset, signed=True))


@admin.register(TradeRollup)
class TradeRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("day", "market", "count", "volume_shown", "quantity_shown", "fee_shown")
    list_filter = ("market", "fee_asset")
    list_select_related = ("market",)
    date_hierarchy = "day"
    ordering = ("-day", "market")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description="volume", ordering="volume")
    def volume_shown(self, obj: TradeRollup) -> str:
        return _num(formatting.money(obj.volume, obj.market.quote))

    @admin.display(description="quantity", ordering="quantity")
    def quantity_shown(self, obj: TradeRollup) -> str:
        return _num(formatting.money(obj.quantity, obj.market.base))

    @admin.display(description="fees", ordering="fee")
    def fee_shown(self, obj: TradeRollup) -> str:
        return _num(formatting.money(obj.fee, obj.fee_asset or obj.market.quote))


ACTION_WORDS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


@admin.register(LogEntry)
class LogEntryAdmin(LargeTableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit log: every admin change and control action, with its reason.

    Fits 1400 px (tests/admin/test_pages_browser.py): what was touched in one
    cell (its kind above its link), and the widest column for what was done
    and why, the reason on its own line."""

    list_display = ("when", "user", "object_link", "action", "what_and_why")
    list_display_links = None
    # Every kind and every user, not only those in the log: "only those in
    # the log" reads the whole log (SELECT DISTINCT) on each page.
    list_filter = ("action_flag", "content_type", "user", "action_time")
    search_fields = ("object_repr", "change_message", "user__username")
    list_select_related = ("user", "content_type")
    ordering = ("-action_time", "-id")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description=in_zone("when"), ordering="action_time")
    def when(self, obj: LogEntry) -> str:
        return _when(obj.action_time)

    @admin.display(description="on", ordering="object_repr")
    def object_link(self, obj: LogEntry) -> str:
        kind = obj.content_type.name if obj.content_type_id else ""
        url = obj.get_admin_url()
        target = (format_html('<a href="{}">{}</a>', url, obj.object_repr) if url
                  else obj.object_repr)
        return format_html('<span class="arb-quiet">{}</span><br>{}', kind, target)

    @admin.display(description="action", ordering="action_flag")
    def action(self, obj: LogEntry) -> str:
        return ACTION_WORDS.get(obj.action_flag, str(obj.action_flag))

    @admin.display(description="what and why")
    def what_and_why(self, obj: LogEntry) -> str:
        text = obj.get_change_message() or formatting.EMPTY
        what, sep, why = text.rpartition(" Reason: ")
        if not sep:
            return format_html('<span class="arb-text">{}</span>', text)
        return format_html('<span class="arb-text">{}<br><span class="arb-why">why: {}</span>'
                           '</span>', what, why)


# Alerts, channels and the outbox; budgets, transfers and ledger checks.
from trading.alerts import admin as _alerts_admin  # noqa: E402, F401
from trading.capital import admin as _capital_admin  # noqa: E402, F401
