"""The alerts in the admin: the list with filters, acknowledge and resolve
(confirmed, with a reason, logged), channels with write-only secrets and a
"send a test alert" action, and the outbox (messages, deliveries, attempts)
read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from arbsite.admin_guards import GuardedHistoryAdmin
from arbsite.adminsite import Confirm, confirm_view
from trading.alerts import services
from trading.alerts.delivery import delivery_retry
from trading.alerts.models import (
    ACTIVE_STATES,
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertMessage,
    ChannelKind,
    DeliveryAttempt,
    MonitorSettings,
)

SEVERITY_COLOURS = {"critical": "#ba2121", "warning": "#9a6700", "info": "#417690"}


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _ids(request: HttpRequest) -> list[int]:
    try:
        return [int(p) for p in request.GET.get("ids", "").split(",") if p.strip()]
    except ValueError:
        return []


def _back(request: HttpRequest, default: str) -> str:
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def severity_badge(alert: Alert | AlertMessage) -> str:
    return format_html('<strong style="color:{}">{}</strong>',
                       SEVERITY_COLOURS.get(alert.severity, "inherit"), alert.severity.upper())


class MessageInline(_ReadOnly, admin.TabularInline):
    model = AlertMessage
    fields = ("created_at", "kind", "title", "delivery_summary")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ("created_at", "id")

    @admin.display(description="deliveries")
    def delivery_summary(self, obj: AlertMessage) -> str:
        return ", ".join(f"{d.channel.name}: {d.status}" for d in
                         obj.deliveries.select_related("channel")) or "no channel took it"


@admin.register(Alert)
class AlertAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("id", "state", "severity_display", "title", "kind", "subject", "count",
                    "first_seen_at", "last_seen_at", "acknowledged_by")
    list_display_links = ("id", "title")
    list_filter = ("state", "severity", "kind", "exchange", "first_seen_at")
    search_fields = ("title", "subject", "message")
    list_select_related = ("acknowledged_by",)
    date_hierarchy = "first_seen_at"
    ordering = ("-last_seen_at", "-id")
    actions = ("acknowledge_selected", "resolve_selected")
    inlines = (MessageInline,)
    readonly_fields = ("kind", "severity", "state", "subject", "exchange", "market", "order",
                       "title", "message", "details", "count", "first_seen_at", "last_seen_at",
                       "last_notified_at", "reminders_sent", "acknowledged_by",
                       "acknowledged_at", "acknowledge_reason", "resolved_at", "resolved_by",
                       "resolve_reason")
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_acknowledge_alerts_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.can_acknowledge_alerts")

    @admin.display(description="severity", ordering="severity")
    def severity_display(self, obj: Alert) -> str:
        return severity_badge(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return super().get_queryset(request)

    @admin.action(description="Acknowledge selected alerts…",
                  permissions=["acknowledge_alerts"])
    def acknowledge_selected(self, request: HttpRequest, queryset: QuerySet[Alert]):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:trading_alert_acknowledge')}?ids={ids}")

    @admin.action(description="Resolve selected alerts…", permissions=["acknowledge_alerts"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Alert]):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:trading_alert_resolve')}?ids={ids}")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("acknowledge/", view(self.acknowledge_view), name="trading_alert_acknowledge"),
            path("resolve/", view(self.resolve_view), name="trading_alert_resolve"),
        ] + super().get_urls()

    def _confirm(self, request: HttpRequest, *, verb: str, service, question: str,
                 states: tuple[str, ...]) -> HttpResponse:
        alerts = list(Alert.objects.filter(pk__in=_ids(request)).order_by("pk"))
        back = _back(request, reverse("admin:trading_alert_changelist"))
        actionable = [a for a in alerts if a.state in states]
        if not actionable and request.user.has_perm("trading.can_acknowledge_alerts"):
            self.message_user(request, f"Nothing to {verb.lower()}: the selected alerts are "
                              "not " + " or ".join(states) + ".", messages.WARNING)
            return HttpResponseRedirect(back)

        def perform(reason: str) -> tuple[int, str]:
            done = []
            for alert in actionable:
                if service(alert_id=alert.pk, user=request.user, reason=reason):
                    self.log_change(request, alert, f"{verb}d. Reason: {reason}")
                    done.append(alert)
            if not done:
                return messages.WARNING, f"No alert {verb.lower()}d: they changed meanwhile."
            return messages.SUCCESS, (f"{verb}d {len(done)} alert(s): "
                                      + "; ".join(a.title for a in done))

        return confirm_view(self.admin_site, request, Confirm(
            title=f"{verb} {len(actionable)} alert{'s' if len(actionable) != 1 else ''}",
            question=question,
            details=[f"#{a.pk} [{a.severity}] {a.title} — {a.state}, seen {a.count}×"
                     for a in actionable],
            permission="trading.can_acknowledge_alerts", perform=perform, back_url=back,
            button=f"{verb} them" if len(actionable) > 1 else verb, danger=False,
        ))

    def acknowledge_view(self, request: HttpRequest) -> HttpResponse:
        return self._confirm(
            request, verb="Acknowledge", service=services.alert_acknowledge,
            states=("open",),
            question=("Say that you are on it: reminders stop, the alert stays active until "
                      "its cause ends or it is resolved."))

    def resolve_view(self, request: HttpRequest) -> HttpResponse:
        return self._confirm(
            request, verb="Resolve", service=services.alert_resolve_by_hand,
            states=tuple(ACTIVE_STATES),
            question=("Close the alert by hand; a \"resolved\" message goes to the channels. "
                      "A condition that still holds is raised again by its next check."))


class ChannelForm(forms.ModelForm):
    """The secret is write-only: never rendered back; blank keeps it."""

    new_secret = forms.CharField(
        label="Secret", required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Webhook: the HMAC signing key. Telegram/Bale: the bot token. Blank keeps "
                  "the stored one; it is never shown back.")
    clear_secret = forms.BooleanField(label="Remove the stored secret", required=False)
    api_base_url = forms.URLField(
        required=False, assume_scheme="https",
        help_text=AlertChannel._meta.get_field("api_base_url").help_text)

    class Meta:
        model = AlertChannel
        fields = ("name", "kind", "enabled", "target", "api_base_url", "min_severity",
                  "quiet_start", "quiet_end")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        target = (data.get("target") or "").strip()
        if kind == ChannelKind.WEBHOOK and not target.startswith(("https://", "http://")):
            self.add_error("target", "A webhook's target is its http(s) URL.")
        if kind == ChannelKind.EMAIL:
            from django.core.validators import validate_email

            for address in [a.strip() for a in target.split(",") if a.strip()] or [""]:
                try:
                    validate_email(address)
                except forms.ValidationError:
                    self.add_error("target", f"Not an e-mail address: {address!r}")
        has_secret = bool(data.get("new_secret")) or (
            self.instance.pk and self.instance.secret and not data.get("clear_secret"))
        if kind in (ChannelKind.TELEGRAM, ChannelKind.BALE, ChannelKind.WEBHOOK) and not has_secret:
            self.add_error("new_secret", "This channel needs its secret (bot token or "
                                         "signing key).")
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error("quiet_end", "Quiet hours need both a start and an end.")
        return data

    def save(self, commit: bool = True):
        channel = super().save(commit=False)
        if self.cleaned_data.get("clear_secret"):
            channel.secret = ""
        if self.cleaned_data.get("new_secret"):
            channel.secret = self.cleaned_data["new_secret"]
        if commit:
            channel.save()
        return channel


@admin.register(AlertChannel)
class AlertChannelAdmin(GuardedHistoryAdmin):
    # A revert would restore an old destination or secret without the
    # channel form's checks: past versions are shown, never restored.
    history_revert = False
    form = ChannelForm
    list_display = ("name", "kind", "enabled", "target_display", "min_severity", "quiet_hours",
                    "secret_set", "pending", "failures", "retry_at", "last_success_at",
                    "last_error_short", "source")
    list_filter = ("kind", "enabled", "min_severity", "source")
    search_fields = ("name", "target")
    readonly_fields = ("source", "failures", "retry_at", "last_error", "last_success_at",
                       "secret_set", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled", "target", "new_secret", "clear_secret",
                           "secret_set", "api_base_url")}),
        ("Filtering", {"fields": ("min_severity", "quiet_start", "quiet_end")}),
        ("Delivery state", {"fields": ("source", "failures", "retry_at", "last_success_at",
                                       "last_error", "created_at", "updated_at")}),
    )
    actions = ("send_test_alert",)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(
            pending_count=Count("deliveries", filter=Q(deliveries__status="pending")))

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_test_alert_channels_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.can_test_alert_channels")

    @admin.display(description="target")
    def target_display(self, obj: AlertChannel) -> str:
        # A webhook URL may carry a token in its query: show scheme, host and path only.
        if obj.kind == ChannelKind.WEBHOOK:
            return obj.target.split("?", 1)[0]
        return obj.target

    @admin.display(description="quiet hours")
    def quiet_hours(self, obj: AlertChannel) -> str:
        if obj.quiet_start is None:
            return "-"
        return f"{obj.quiet_start:%H:%M}–{obj.quiet_end:%H:%M}"

    @admin.display(description="secret", boolean=True)
    def secret_set(self, obj: AlertChannel) -> bool:
        return bool(obj.secret)

    @admin.display(description="pending", ordering="pending_count")
    def pending(self, obj: AlertChannel) -> int:
        return getattr(obj, "pending_count", 0)

    @admin.display(description="last error")
    def last_error_short(self, obj: AlertChannel) -> str:
        return obj.last_error[:80]

    @admin.action(description="Send a test alert through the selected channels",
                  permissions=["test_alert_channels"])
    def send_test_alert(self, request: HttpRequest, queryset: QuerySet[AlertChannel]):
        results = services.channel_test_send(channel_ids=list(queryset.values_list("pk",
                                                                                   flat=True)),
                                              user=request.user)
        for result in results:
            self.message_user(request, f"{result.channel}: {result.detail}",
                              messages.SUCCESS if result.ok else messages.ERROR)
        for channel in queryset:
            self.log_change(request, channel, "Test alert sent: " + "; ".join(
                f"{r.channel}: {r.detail}" for r in results if r.channel == channel.name))


class DeliveryInline(_ReadOnly, admin.TabularInline):
    model = AlertDelivery
    fields = ("channel", "status", "attempts", "not_before", "sent_at", "last_error")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(AlertMessage)
class AlertMessageAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "kind", "severity_display", "title", "alert")
    list_filter = ("kind", "severity", "created_at")
    search_fields = ("title", "text")
    list_select_related = ("alert",)
    ordering = ("-created_at", "-id")
    inlines = (DeliveryInline,)
    readonly_fields = ("alert", "kind", "severity", "title", "text", "payload", "dedupe_key",
                       "created_at")

    @admin.display(description="severity", ordering="severity")
    def severity_display(self, obj: AlertMessage) -> str:
        return severity_badge(obj)


class AttemptInline(_ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("started_at", "elapsed_ms", "ok", "status_code", "error", "process")
    readonly_fields = fields
    extra = 0
    ordering = ("started_at", "id")


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "message", "channel", "status", "attempts", "not_before",
                    "sent_at", "last_error_short")
    list_filter = ("status", "channel", "created_at")
    list_select_related = ("message", "channel")
    ordering = ("-created_at", "-id")
    inlines = (AttemptInline,)
    readonly_fields = ("message", "channel", "status", "not_before", "attempts", "refusals",
                       "claimed_until", "sent_at", "last_error", "created_at")
    actions = ("retry_selected",)

    @admin.display(description="last error")
    def last_error_short(self, obj: AlertDelivery) -> str:
        return obj.last_error[:80]

    def has_test_alert_channels_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.can_test_alert_channels")

    @admin.action(description="Retry the selected given-up deliveries",
                  permissions=["test_alert_channels"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[AlertDelivery]):
        count = delivery_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} delivery(ies) queued again; the next sweep sends "
                          "them.", messages.SUCCESS if count else messages.WARNING)


@admin.register(MonitorSettings)
class MonitorSettingsAdmin(GuardedHistoryAdmin):
    list_display = ("__str__", "breaker_open_seconds", "books_stale_seconds",
                    "order_stuck_minutes", "exchange_down_minutes", "reminder_minutes",
                    "ledger_mismatch_pauses_trading", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row (``setup`` creates it); never a second.
        return not MonitorSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
