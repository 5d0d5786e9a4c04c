"""The alert records: thresholds, alerts, channels, and the outbox of
messages with one delivery per channel and every attempt kept.

Imported by ``trading.models`` so Django sees them in the ``trading`` app.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from arbsite.fields import EncryptedTextField
from arbsite.settings_schema import validate_ledger_tolerance_abs
from exchanges.models import Exchange, Market
from trading.alerts.kinds import AlertKind, MessageKind, Severity


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": [value for value, _ in choices.choices]})


class MonitorSettings(models.Model):
    """The one row of alerting and ledger thresholds, edited in the admin."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    breaker_open_seconds = models.PositiveIntegerField(
        default=120, help_text="Alert when an exchange's circuit breaker stays open this long.")
    books_stale_seconds = models.PositiveIntegerField(
        default=60, help_text="Alert when an exchange has no fresh book for this long.")
    order_stuck_minutes = models.PositiveIntegerField(
        default=5, help_text="Alert when an order stays unknown or pending_submit this long.")
    exchange_down_minutes = models.PositiveIntegerField(
        default=10, help_text="Exchange-down mode after this long unreachable: no new "
                              "opportunities there, an alert, its capital shown at risk.")
    heartbeat_max_age_seconds = models.PositiveIntegerField(
        default=60, help_text="A worker or beat heartbeat older than this is missing.")
    reminder_minutes = models.PositiveIntegerField(
        default=60, help_text="Remind of an open (unacknowledged) alert this often; 0: never.")
    daily_loss_warn_pct = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("80"),
        help_text="Warn when today's loss reaches this percent of the daily loss limit.")
    ledger_tolerance_pct = models.DecimalField(
        max_digits=12, decimal_places=8, default=Decimal("0.0001"),
        help_text="Ledger difference tolerated, in percent of the expected balance.")
    ledger_tolerance_abs = models.JSONField(
        default=dict, blank=True, validators=[validate_ledger_tolerance_abs],
        help_text='Absolute tolerance per asset, e.g. {"IRR": "10", "BTC": "0.00000001"}; '
                  "the larger of the two applies.")
    ledger_mismatch_pauses_trading = models.BooleanField(
        default=False, help_text="A ledger mismatch also pauses trading on that exchange.")
    api_key_warn_days = models.PositiveIntegerField(
        default=14, help_text="Warn this many days before an exchange's API key expires.")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "monitor settings"
        verbose_name_plural = "monitor settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="monitor_settings_singleton"),
            models.CheckConstraint(
                condition=Q(ledger_tolerance_pct__gte=0, daily_loss_warn_pct__gt=0,
                            daily_loss_warn_pct__lte=100),
                name="monitor_settings_ranges",
            ),
        ]

    def __str__(self) -> str:
        return "Monitor settings"

    @classmethod
    def load(cls) -> MonitorSettings:
        obj, _ = cls.objects.get_or_create(id=cls.SINGLETON_ID)
        return obj


class AlertState(models.TextChoices):
    OPEN = "open", "open"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    RESOLVED = "resolved", "resolved"


ACTIVE_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class Alert(models.Model):
    """One condition or event that an operator must know about.

    At most one active (open or acknowledged) alert per kind and subject:
    a repeat bumps ``count`` and ``last_seen_at``. Changed only through
    ``trading.alerts.services``.
    """

    State = AlertState

    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    subject = models.CharField(
        max_length=200, blank=True,
        help_text="What it is about: exchange:nobitex, order:<client id>, quote:IRR … "
                  "(blank: the whole system).")
    exchange = models.ForeignKey(Exchange, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    order = models.ForeignKey("trading.Order", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    count = models.PositiveIntegerField(default=1, help_text="Times seen while active.")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(
        help_text="When it was last sent (raised or reminded); reminders count from it.")
    reminders_sent = models.PositiveIntegerField(default=0)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_reason = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True,
                                   help_text="admin:<user>, or the check that saw it end.")
    resolve_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        permissions = [
            ("can_acknowledge_alerts", "Can acknowledge or resolve alerts"),
            ("can_test_alert_channels", "Can send a test alert through a channel"),
        ]
        indexes = [models.Index(fields=["state", "last_seen_at"], name="alert_state_seen")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"], condition=Q(state__in=["open", "acknowledged"]),
                name="alert_one_active_per_kind_subject",
            ),
            models.CheckConstraint(condition=_in("kind", AlertKind), name="alert_kind_valid"),
            models.CheckConstraint(condition=_in("state", AlertState), name="alert_state_valid"),
            models.CheckConstraint(condition=_in("severity", Severity),
                                   name="alert_severity_valid"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} [{self.severity}] {self.title}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class ChannelKind(models.TextChoices):
    EMAIL = "email", "e-mail"
    WEBHOOK = "webhook", "signed JSON webhook"
    TELEGRAM = "telegram", "Telegram"
    BALE = "bale", "Bale"


class AlertChannel(models.Model):
    """Where alerts go. The secret (webhook signing key or bot token) is
    encrypted at rest and never shown back."""

    Kind = ChannelKind

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    target = models.CharField(
        max_length=500,
        help_text="Webhook: its URL. E-mail: addresses, comma-separated. Telegram/Bale: "
                  "the chat id.")
    secret = EncryptedTextField(
        blank=True, help_text="Webhook: the HMAC-SHA256 signing secret. Telegram/Bale: the "
                              "bot token. Encrypted; never shown back.")
    api_base_url = models.URLField(
        blank=True, help_text="Telegram/Bale only: blank for the service's own host "
                              "(api.telegram.org, tapi.bale.ai); a Bot API server of your own.")
    min_severity = models.CharField(max_length=16, choices=Severity.choices,
                                    default=Severity.WARNING)
    quiet_start = models.TimeField(
        null=True, blank=True,
        help_text="Quiet hours (in TRADING_DAY_TZ): below critical, messages wait until they end.")
    quiet_end = models.TimeField(null=True, blank=True)
    source = models.CharField(max_length=16, default="admin",
                              help_text="admin, or environment (installed by setup).")
    # Delivery state of the channel: consecutive failures and when to try again.
    failures = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["secret", "failures", "retry_at", "last_error",
                                                 "last_success_at"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=_in("kind", ChannelKind), name="channel_kind_valid"),
            models.CheckConstraint(condition=_in("min_severity", Severity),
                                   name="channel_min_severity_valid"),
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="channel_quiet_hours_both_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class AlertMessage(models.Model):
    """One message of the outbox: an alert raised, reminded or resolved, a
    daily summary or a test. Written in the transaction of its cause, with
    one AlertDelivery per channel that takes it."""

    Kind = MessageKind

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="messages")
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    title = models.CharField(max_length=250)
    text = models.TextField(help_text="The text sent by e-mail, Telegram and Bale.")
    payload = models.JSONField(default=dict, help_text="The webhook body's content.")
    dedupe_key = models.CharField(  # noqa: DJ001 - NULL: most messages have none
        max_length=100, null=True, blank=True, unique=True,
        help_text="Written once per key (the daily summary of a day).")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=_in("kind", MessageKind), name="message_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed (refused; retry from the admin)"


class AlertDelivery(models.Model):
    """One message to one channel. Pending until the channel took it; sent
    exactly once (a claimed send is never repeated by another process)."""

    Status = DeliveryStatus

    message = models.ForeignKey(AlertMessage, on_delete=models.CASCADE,
                                related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE,
                                related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    not_before = models.DateTimeField(help_text="Held until then (quiet hours).")
    attempts = models.PositiveIntegerField(default=0)
    refusals = models.PositiveIntegerField(
        default=0, help_text="Attempts the channel refused for this message (HTTP 4xx).")
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A sender holds it until then.")
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(fields=["channel", "status", "not_before"], name="delivery_due"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["message", "channel"],
                                    name="delivery_one_per_message_channel"),
            models.CheckConstraint(condition=_in("status", DeliveryStatus),
                                   name="delivery_status_valid"),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} → {self.channel_id}: {self.status}"


class DeliveryAttempt(models.Model):
    """Every try of a delivery, kept: when, what the channel answered."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE,
                                 related_name="attempt_rows")
    started_at = models.DateTimeField()
    elapsed_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    process = models.CharField(max_length=100, blank=True, help_text="host:pid that sent it.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} at {self.started_at:%H:%M:%S}: " + (
            "ok" if self.ok else self.error[:60])
