"""The operator's view of trading. Audit records (events, fills) are
read-only for everyone; orders are changed only through the state machine,
so their status, quantities, prices and ids are never edited here."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from arbsite.admin_guards import GuardedHistoryAdmin
from arbsite.adminsite import Confirm, confirm_view
from exchanges.states import OrderState
from trading.models import (
    DailyRiskSnapshot,
    Opportunity,
    OpportunityEvent,
    OpportunityRollup,
    Order,
    OrderEvent,
    ReportDay,
    RiskSettings,
    Trade,
    TradeRollup,
)
from trading.services import control
from trading.services.orders import IllegalTransition


def _link(obj, label: str | None = None) -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


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
    fields = ("created_at", "kind", "from_status", "to_status", "filled_quantity", "source",
              "message")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    show_change_link = True


class OpportunityEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The opportunity's history: claimed, refused, expired, settled."""

    model = OpportunityEvent
    fields = ("created_at", "from_status", "to_status", "source", "message")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0


class TradeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Trade
    fields = ("executed_at", "exchange_trade_id", "side", "price", "quantity", "fee", "fee_asset")
    readonly_fields = fields
    extra = 0


class OrderInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Order
    fields = ("client_order_id", "exchange", "purpose", "side", "quantity", "price", "status",
              "filled_quantity", "average_price", "fee", "fee_asset")
    readonly_fields = fields
    extra = 0
    show_change_link = True


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
class OrderAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    form = OrderForm
    list_display = ("client_order_id", "created_at", "exchange", "market", "purpose", "side",
                    "quantity", "price", "status", "filled_quantity", "average_price",
                    "opportunity_link", "tags")
    list_filter = ("status", "exchange", "market", "purpose", "side", "is_external",
                   "created_at")
    search_fields = ("client_order_id", "exchange_order_id", "notes", "tags")
    list_select_related = ("exchange", "market", "opportunity")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (OrderEventInline, TradeInline)
    actions = ("cancel_selected", "resync_selected")
    readonly_fields = ("opportunity", "exchange", "market", "client_order_id",
                       "exchange_order_id", "purpose", "side", "order_type", "quantity", "price",
                       "status", "status_reason", "filled_quantity", "average_price", "fee",
                       "fee_asset", "is_external", "not_found_since", "created_at",
                       "submitted_at", "last_synced_at", "updated_at")
    fields = readonly_fields[:-4] + ("notes", "tags") + readonly_fields[-4:]

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

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("cancel/", view(self.cancel_view), name="trading_order_cancel"),
            path("resync/", view(self.resync_view), name="trading_order_resync"),
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
            details=[f"{o.client_order_id} — {o.exchange} {o.market} {o.side} {o.quantity} "
                     f"@ {o.price} — {o.get_status_display()}" for o in orders],
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
            details=[f"{order.exchange} {order.market} {order.side} {order.quantity} @ "
                     f"{order.price}; now {order.get_status_display()}, filled "
                     f"{order.filled_quantity}" + (" (external)" if order.is_external else "")],
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


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "order_link", "kind", "from_status", "to_status",
                    "filled_quantity", "source", "message")
    list_filter = ("kind", "to_status", "source", "created_at")
    search_fields = ("order__client_order_id", "order__exchange_order_id", "source", "message")
    list_select_related = ("order",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description="order", ordering="order")
    def order_link(self, obj: OrderEvent) -> str:
        return _link(obj.order, obj.order.client_order_id)


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("executed_at", "exchange", "market", "side", "price", "quantity",
                    "quote_amount", "fee", "fee_asset", "order_link", "exchange_trade_id")
    list_filter = ("exchange", "market", "side", "executed_at")
    search_fields = ("exchange_trade_id", "order__client_order_id", "order__exchange_order_id")
    list_select_related = ("exchange", "market", "order")
    date_hierarchy = "executed_at"
    ordering = ("-executed_at", "-id")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description="order", ordering="order")
    def order_link(self, obj: Trade) -> str:
        return _link(obj.order, obj.order.client_order_id) if obj.order_id else "-"


@admin.register(Opportunity)
class OpportunityAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "market", "buy_exchange", "sell_exchange", "quantity",
                    "expected_profit", "expected_profit_pct", "quote_asset", "status",
                    "realized_pnl")
    list_filter = ("status", "market", "buy_exchange", "sell_exchange", "created_at")
    search_fields = ("id", "reason", "orders__client_order_id")
    list_select_related = ("market", "buy_exchange", "sell_exchange")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (OpportunityEventInline, OrderInline)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DailyRiskSnapshot)
class DailyRiskSnapshotAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ("day", "realized_pnl_irr", "realized_pnl_usdt", "fees_irr", "fees_usdt",
                    "volume_irr", "trade_count", "round_trips", "kill_switch_active", "closed",
                    "updated_at")
    list_filter = ("closed", "kill_switch_active")
    date_hierarchy = "day"
    ordering = ("-day",)

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

    list_display = ("__str__", "kill_switch", "max_daily_loss_irr", "max_order_value_irr",
                    "min_profit_pct", "max_book_age_ms", "updated_at", "updated_by")
    readonly_fields = ("kill_switch_state", "kill_switch", "kill_switch_reason",
                       "kill_switch_set_by", "kill_switch_set_at", "updated_at", "updated_by")
    history_list_display = ("kill_switch", "max_daily_loss_irr", "max_order_value_irr",
                            "min_profit_pct")

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
    list_display = ("day", "market", "buy_exchange", "sell_exchange", "status", "quote_asset",
                    "count", "wins", "realized_pnl", "best", "worst")
    list_filter = ("status", "quote_asset", "market")
    list_select_related = ("market", "buy_exchange", "sell_exchange")
    date_hierarchy = "day"
    ordering = ("-day", "market")

    def get_actions(self, request: HttpRequest):
        return {}


@admin.register(TradeRollup)
class TradeRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("day", "market", "fee_asset", "count", "volume", "quantity", "fee")
    list_filter = ("market", "fee_asset")
    list_select_related = ("market",)
    date_hierarchy = "day"
    ordering = ("-day", "market")

    def get_actions(self, request: HttpRequest):
        return {}


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit log: every admin change and control action, with its reason."""

    list_display = ("action_time", "user", "content_type", "object_link", "action_flag",
                    "change_message_text")
    list_filter = ("action_flag", "content_type", "user")
    search_fields = ("object_repr", "change_message", "user__username")
    list_select_related = ("user", "content_type")
    date_hierarchy = "action_time"
    ordering = ("-action_time", "-id")

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description="object", ordering="object_repr")
    def object_link(self, obj: LogEntry) -> str:
        url = obj.get_admin_url()
        return format_html('<a href="{}">{}</a>', url, obj.object_repr) if url else obj.object_repr

    @admin.display(description="change")
    def change_message_text(self, obj: LogEntry) -> str:
        return obj.get_change_message()


# Alerts, channels and the outbox; budgets, transfers and ledger checks.
from trading.alerts import admin as _alerts_admin  # noqa: E402, F401
from trading.capital import admin as _capital_admin  # noqa: E402, F401
