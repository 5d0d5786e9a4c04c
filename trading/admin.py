"""The operator's view of trading. Audit records (events, fills) are
read-only for everyone; orders are changed only through the state machine,
so their status, quantities, prices and ids are never edited here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from trading.models import (
    DailyRiskSnapshot,
    Opportunity,
    Order,
    OrderEvent,
    RiskSettings,
    Trade,
)


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
    fields = ("created_at", "from_status", "to_status", "filled_quantity", "source", "message")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    show_change_link = True


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


@admin.register(Order)
class OrderAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ("client_order_id", "created_at", "exchange", "market", "purpose", "side",
                    "quantity", "price", "status", "filled_quantity", "average_price",
                    "opportunity_link")
    list_filter = ("status", "exchange", "market", "purpose", "side", "created_at")
    search_fields = ("client_order_id", "exchange_order_id", "notes")
    list_select_related = ("exchange", "market", "opportunity")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (OrderEventInline, TradeInline)
    readonly_fields = ("opportunity", "exchange", "market", "client_order_id",
                       "exchange_order_id", "purpose", "side", "order_type", "quantity", "price",
                       "status", "status_reason", "filled_quantity", "average_price", "fee",
                       "fee_asset", "created_at", "submitted_at", "last_synced_at", "updated_at")
    fields = readonly_fields[:-4] + ("notes",) + readonly_fields[-4:]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="opportunity", ordering="opportunity")
    def opportunity_link(self, obj: Order) -> str:
        return _link(obj.opportunity, f"#{obj.opportunity_id}") if obj.opportunity_id else "-"


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "order_link", "from_status", "to_status", "filled_quantity",
                    "source", "message")
    list_filter = ("to_status", "source", "created_at")
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
    inlines = (OrderInline,)

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
class RiskSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kill_switch", "max_daily_loss_irr", "max_order_value_irr",
                    "min_profit_pct", "max_book_age_ms", "updated_at", "updated_by")
    readonly_fields = ("kill_switch_set_by", "kill_switch_set_at", "updated_at", "updated_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RiskSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RiskSettings, form, change: bool) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
