"""Capital in the admin: budgets per exchange, transfers recorded by
operators (state moves forward only, each move in the history), and the
ledger checks read-only, with "accept this balance" for a mismatch."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from arbsite.admin_guards import GuardedHistoryAdmin
from arbsite.adminsite import Confirm, confirm_view
from trading.capital.models import CapitalBudget, LedgerCheck, LedgerStatus, Transfer
from trading.services import ledger

STATUS_COLOURS = {"mismatch": "#ba2121", "unsettled": "#9a6700", "ok": "#1a7f37",
                  "baseline": "#417690", "accepted": "#417690"}


@admin.register(CapitalBudget)
class CapitalBudgetAdmin(GuardedHistoryAdmin):
    list_display = ("exchange", "max_value_irr", "max_open_orders_irr", "updated_at")
    list_select_related = ("exchange",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Setting a budget on an exchange is a change of its configuration.
        return request.user.has_perm("trading.change_capitalbudget")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


class TransferForm(forms.ModelForm):
    class Meta:
        model = Transfer
        fields = ("kind", "from_exchange", "to_exchange", "asset", "amount", "fee", "state",
                  "txid", "notes")

    def clean_asset(self) -> str:
        return (self.cleaned_data.get("asset") or "").strip().upper()

    def clean(self):
        data = super().clean()
        if self.instance.pk and "state" in self.changed_data:
            allowed = ledger.NEXT_STATES[Transfer.State(self.instance.state)]
            if data.get("state") not in allowed:
                self.add_error("state", f"A {self.instance.state} transfer can only become "
                               + (", ".join(allowed) or "nothing else") + ".")
        if self.instance.pk and self.instance.state != Transfer.State.PENDING:
            frozen = {"kind", "from_exchange", "to_exchange", "asset", "amount", "fee"}
            if frozen & set(self.changed_data):
                raise forms.ValidationError("Once on the ledger (sent or completed) only its "
                                            "state, transaction id and notes may change.")
        return data


@admin.register(Transfer)
class TransferAdmin(GuardedHistoryAdmin):
    history_revert = False  # a transfer moves forward only (its state machine)
    form = TransferForm
    list_display = ("created_at", "kind", "from_exchange", "to_exchange", "asset", "amount",
                    "fee", "state", "txid", "sent_at", "completed_at", "recorded_by")
    list_filter = ("state", "kind", "asset", "from_exchange", "to_exchange")
    search_fields = ("txid", "notes")
    list_select_related = ("from_exchange", "to_exchange", "recorded_by")
    readonly_fields = ("sent_at", "completed_at", "recorded_by", "created_at")
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.can_record_transfers")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("trading.can_record_transfers")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Transfer, form, change: bool) -> None:
        ledger.transfer_record(transfer=obj, actor_user=request.user)


@admin.register(LedgerCheck)
class LedgerCheckAdmin(admin.ModelAdmin):
    list_display = ("checked_at", "exchange", "asset", "status_display", "actual", "expected",
                    "difference", "tolerance", "fills_delta", "transfers_delta", "note")
    list_filter = ("status", "exchange", "asset", "checked_at")
    list_select_related = ("exchange",)
    date_hierarchy = "checked_at"
    ordering = ("-checked_at", "-id")
    readonly_fields = ("exchange", "asset", "checked_at", "cut_at", "status", "baseline",
                       "baseline_balance", "fills_delta", "fills_counted", "transfers_delta",
                       "transfers_counted", "expected", "actual", "difference", "tolerance",
                       "reconciled_balance", "note", "accepted_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        return {}

    @admin.display(description="status", ordering="status")
    def status_display(self, obj: LedgerCheck) -> str:
        return format_html('<strong style="color:{}">{}</strong>',
                           STATUS_COLOURS.get(obj.status, "inherit"), obj.get_status_display())

    def get_urls(self):
        return [path("<int:pk>/accept/", self.admin_site.admin_view(self.accept_view),
                     name="trading_ledgercheck_accept")] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        check = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if check is not None and check.status == LedgerStatus.MISMATCH and request.user.has_perm(
                "trading.can_acknowledge_alerts"):
            self.message_user(request, format_html(
                'This difference is not explained. Record the transfer that explains it, or '
                '<a href="{}">accept the exchange\'s balance as reconciled…</a>',
                reverse("admin:trading_ledgercheck_accept", args=[check.pk])), messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def accept_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        check = get_object_or_404(LedgerCheck.objects.select_related("exchange"), pk=pk)
        back = reverse("admin:trading_ledgercheck_change", args=[check.pk])
        if check.status != LedgerStatus.MISMATCH:
            self.message_user(request, "Only a mismatch can be accepted.", messages.WARNING)
            return HttpResponseRedirect(back)

        def perform(reason: str) -> tuple[int, str]:
            ledger.ledger_accept(check_id=check.pk, actor=f"admin:{request.user.get_username()}",
                                 reason=reason)
            return messages.SUCCESS, (f"{check.exchange} {check.asset}: {check.actual} accepted "
                                      "as the reconciled balance.")

        return confirm_view(self.admin_site, request, Confirm(
            title=f"Accept {check.exchange} {check.asset} balance as reconciled",
            question=("Write the difference off: the next checks start from the balance the "
                      "exchange reported here. Do this only once you know why it differs."),
            details=[f"actual {check.actual}, expected {check.expected}, difference "
                     f"{check.difference} (tolerance {check.tolerance})"],
            permission="trading.can_acknowledge_alerts", perform=perform, back_url=back,
            button="Accept the balance", danger=True, log_object=check.exchange,
        ))
