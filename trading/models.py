"""The trading records. The database is the source of truth.

Models are thin: status changes go through the state machines, which also
write the history: ``trading.services.orders`` (Order → OrderEvent) and
``trading.services.opportunities`` (Opportunity → OpportunityEvent).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from arbsite.fields import MoneyField
from arbsite.formatting import number
from arbsite.settings_schema import validate_max_exposure
from exchanges.models import Exchange, Market
from exchanges.states import LIVE_STATES, OrderState
from trading.detection.slippage import MAX_SLIPPAGE_BPS, overrides_parse


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": [value for value, _ in choices.choices]})


class Side(models.TextChoices):
    BUY = "buy", "buy"
    SELL = "sell", "sell"


class OpportunityStatus(models.TextChoices):
    DETECTED = "detected", "detected"
    REJECTED = "rejected", "rejected"
    EXECUTING = "executing", "executing"
    DONE = "done", "done"
    PARTIAL = "partial", "partially done"
    UNWOUND = "unwound", "unwound"
    FAILED = "failed", "failed"


class OrderType(models.TextChoices):
    LIMIT = "limit", "limit"
    MARKET = "market", "market"


class OrderPurpose(models.TextChoices):
    ENTRY = "entry", "entry leg"
    UNWIND = "unwind", "unwind"
    EXTERNAL = "external", "external"
    MANUAL = "manual", "manual"


class Opportunity(models.Model):
    """What detection saw, and what became of it.

    ``status`` changes only through ``trading.services.opportunities``.
    """

    Status = OpportunityStatus

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="opportunities")
    buy_exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    sell_exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=OpportunityStatus.choices, default=OpportunityStatus.DETECTED
    )
    reason = models.TextField(blank=True, help_text="Why it was rejected, failed or unwound.")
    quote_asset = models.CharField(max_length=16, help_text="IRR (rial) or USDT.")
    quantity = MoneyField(help_text="Base amount of each leg.")
    buy_price = MoneyField(help_text="Buy limit: the worst ask level the size needs, plus the "
                                     "slippage buffer (details: slippage).")
    sell_price = MoneyField(help_text="Sell limit: the worst bid level the size needs, less the "
                                      "slippage buffer (details: slippage).")
    buy_vwap = MoneyField(help_text="Depth-weighted average buy price.")
    sell_vwap = MoneyField(help_text="Depth-weighted average sell price.")
    buy_fee_rate = models.DecimalField(max_digits=8, decimal_places=6)
    sell_fee_rate = models.DecimalField(max_digits=8, decimal_places=6)
    expected_profit = MoneyField(help_text="After both taker fees, in the quote asset.")
    expected_profit_pct = models.DecimalField(max_digits=12, decimal_places=6)
    worst_case_profit = MoneyField(
        null=True, blank=True,
        help_text="After both taker fees, every unit filled at its limit price (the buffered "
                  "prices): the least the round trip makes if both legs fill.")
    buy_book_age_ms = models.PositiveIntegerField(default=0)
    sell_book_age_ms = models.PositiveIntegerField(default=0)
    # Where each book came from as detection read it: "stream" (a websocket
    # push, trading/services/streaming.py) or "poll" (REST); "" before 0018.
    buy_book_source = models.CharField(max_length=8, blank=True, default="")
    sell_book_source = models.CharField(max_length=8, blank=True, default="")
    details = models.JSONField(
        default=dict, blank=True, help_text="Book levels used, caps applied: the audit record."
    )
    realized_pnl = MoneyField(null=True, blank=True, help_text="In the quote asset, fees included.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["status", "created_at"], name="opportunity_status_created"),
            # The admin's list filtered by market, newest first.
            models.Index(fields=["market", "created_at"], name="opportunity_market_created"),
            # Reports: closed opportunities of a period grouped by quote, status,
            # market and exchange pair, read from the index alone (covering).
            models.Index(
                fields=["closed_at", "quote_asset", "status", "market", "buy_exchange",
                        "sell_exchange", "realized_pnl"],
                condition=Q(realized_pnl__isnull=False),
                name="opportunity_closed_cover",
            ),
            # Reports: the exact median per round trip, walked in P&L order
            # from the index alone (OFFSET n/2), closed_at filtered in the index.
            models.Index(
                fields=["quote_asset", "realized_pnl"], include=["closed_at"],
                condition=Q(realized_pnl__isnull=False) & ~Q(status="failed"),
                name="opportunity_pnl_order",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=_in("status", OpportunityStatus), name="opportunity_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0, buy_price__gte=0, sell_price__gte=0,
                            buy_vwap__gte=0, sell_vwap__gte=0),
                name="opportunity_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=~Q(buy_exchange=F("sell_exchange")),
                name="opportunity_two_exchanges",
            ),
            # One opportunity in flight per market and direction: however
            # detection runs, a pair's balances are never planned twice.
            models.UniqueConstraint(
                fields=["market", "buy_exchange", "sell_exchange"],
                condition=Q(status__in=["detected", "executing"]),
                name="opportunity_one_in_flight_per_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.market} {self.buy_exchange}→{self.sell_exchange}"


class Order(models.Model):
    """One order on one exchange: a leg of an opportunity, an unwind, or an
    order found on the exchange that this system did not place (external).

    ``status`` changes only through ``trading.services.orders.order_transition``.
    """

    Status = OrderState
    Type = OrderType
    Purpose = OrderPurpose

    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="orders")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="orders")
    client_order_id = models.CharField(max_length=32, unique=True)
    # NULL until the exchange answers: several orders may lack one at once,
    # which a unique constraint on "" would forbid.
    exchange_order_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    purpose = models.CharField(
        max_length=16, choices=OrderPurpose.choices, default=OrderPurpose.ENTRY
    )
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.LIMIT)
    quantity = MoneyField(help_text="Base amount ordered.")
    price = MoneyField(null=True, blank=True, help_text="Limit price in project units (rial).")
    status = models.CharField(
        max_length=20, choices=OrderState.choices, default=OrderState.PENDING_SUBMIT
    )
    filled_quantity = MoneyField(default=Decimal("0"))
    average_price = MoneyField(null=True, blank=True)
    fee = MoneyField(default=Decimal("0"))
    fee_asset = models.CharField(max_length=16, blank=True)
    status_reason = models.TextField(blank=True)
    is_external = models.BooleanField(
        default=False, help_text="Found on the exchange, not placed by this system."
    )
    not_found_since = models.DateTimeField(
        null=True, blank=True,
        help_text="When the exchange first said it has no such order (cleared when found).",
    )
    needs_human = models.BooleanField(
        default=False,
        help_text="An error or a conflict that no code could settle (see its history): an "
                  "operator should look. Set by sync, recovery, execution and the admin's "
                  "actions; cleared by an operator.",
    )
    notes = models.TextField(blank=True)
    tags = models.CharField(
        max_length=200, blank=True,
        help_text="Operator's tags, comma-separated (e.g. checked, dispute).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("can_cancel_orders", "Can cancel orders on their exchange"),
            ("can_resync_orders", "Can resync orders from their exchange"),
            ("can_resolve_orders", "Can resolve unknown or external orders by hand"),
        ]
        indexes = [
            # The hot query of sync and recovery: orders not yet final.
            models.Index(
                fields=["exchange", "status"],
                name="order_live_by_exchange",
                condition=Q(status__in=sorted(LIVE_STATES)),
            ),
            # The admin's list, newest first (its ordering), whole or by each
            # filter: a page is read from an index, however rare the value.
            models.Index(fields=["created_at", "id"], name="order_created_id"),
            models.Index(fields=["status", "created_at", "id"], name="order_status_created"),
            models.Index(fields=["exchange", "created_at", "id"], name="order_exchange_created"),
            models.Index(fields=["market", "created_at", "id"], name="order_market_created"),
            models.Index(fields=["purpose", "created_at", "id"], name="order_purpose_created"),
            models.Index(fields=["created_at", "id"], condition=Q(is_external=True),
                         name="order_external_created"),
            # Health's "needs a human" (count and oldest) and the list's filter:
            # the few flagged rows, never a scan of every order.
            models.Index(fields=["updated_at"], condition=Q(needs_human=True),
                         name="order_needs_human"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "exchange_order_id"],
                condition=Q(exchange_order_id__isnull=False),
                name="order_unique_exchange_order_id",
            ),
            models.CheckConstraint(condition=_in("status", OrderState), name="order_status_valid"),
            models.CheckConstraint(condition=_in("side", Side), name="order_side_valid"),
            models.CheckConstraint(condition=_in("order_type", OrderType), name="order_type_valid"),
            models.CheckConstraint(
                condition=_in("purpose", OrderPurpose), name="order_purpose_valid"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0, filled_quantity__gte=0, fee__gte=0)
                & (Q(price__isnull=True) | Q(price__gte=0))
                & (Q(average_price__isnull=True) | Q(average_price__gte=0)),
                name="order_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(filled_quantity__lte=F("quantity")),
                name="order_filled_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.client_order_id}: {self.side} {number(self.quantity)} {self.market} "
                f"on {self.exchange}")

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATES


class OpportunityEvent(models.Model):
    """Append-only history of an opportunity: every change of its status
    (claimed, refused, expired, settled), by whom and why. Its detection is
    the row itself (``created_at``, ``details``)."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, choices=OpportunityStatus.choices)
    to_status = models.CharField(max_length=16, choices=OpportunityStatus.choices)
    source = models.CharField(max_length=64, help_text="executor, sync, recovery …")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["opportunity", "created_at"],
                                name="opportunityevent_opp_created")]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.from_status} → {self.to_status} ({self.source})"


class OrderEventKind(models.TextChoices):
    """What an OrderEvent records, beside its free text (Saleor's ``OrderEvents``)."""

    CREATED = "created", "written before sending"
    IMPORTED = "imported", "imported from the exchange (external)"
    EXCHANGE_REPORT = "exchange_report", "the exchange's report applied"
    SEND_REFUSED = "send_refused", "refused by the exchange"
    SEND_NOT_SENT = "send_not_sent", "could not be sent"
    SEND_AMBIGUOUS = "send_ambiguous", "no answer to the send"
    SEND_FAILED = "send_failed", "unexpected error while sending"
    NOT_FOUND = "not_found", "not found on the exchange, twice"
    LOOKUP_UNCLEAR = "lookup_unclear", "the exchange's answer could not be classified"
    RECONCILED = "reconciled", "held rejected, but the exchange has it: its truth applied"
    CANCEL_REQUESTED = "cancel_requested", "cancel requested by an operator"
    LEG_CANCEL = "leg_cancel", "resting entry leg cancelled (window over, kill switch)"
    RESYNC_REQUESTED = "resync_requested", "resync requested by an operator"
    RESOLVED_BY_HAND = "resolved_by_hand", "resolved by hand"
    ERROR = "error", "unexpected error while handling it: needs a human"
    ID_CONFLICT = "id_conflict", "its exchange order id is claimed by another order"
    CHECKED = "checked", "checked by an operator (needs a human cleared)"
    NOTE = "note", "note"
    UPDATE = "update", "other change"


class OrderEvent(models.Model):
    """Append-only history of an order: every status or fill change."""

    Kind = OrderEventKind

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=OrderEventKind.choices,
                            default=OrderEventKind.UPDATE)
    from_status = models.CharField(max_length=20, choices=OrderState.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=OrderState.choices)
    filled_quantity = MoneyField(default=Decimal("0"), help_text="Filled amount after the event.")
    source = models.CharField(
        max_length=64, help_text="executor, sync, recovery, admin:<username> …"
    )
    message = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="What the exchange answered.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["order", "created_at"], name="orderevent_order_created"),
            # "Every cancel requested by an operator", newest first.
            models.Index(fields=["kind", "created_at"], name="orderevent_kind_created"),
            # The admin's list filtered by the status an event led to.
            models.Index(fields=["to_status", "created_at"], name="orderevent_to_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=_in("kind", OrderEventKind),
                                   name="orderevent_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status} ({self.source})"


class Trade(models.Model):
    """One fill on an exchange; the source of P&L and fees."""

    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="trades")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="trades"
    )
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="trades")
    exchange_trade_id = models.CharField(
        max_length=96, help_text="The exchange's id, or a deterministic one where it gives none."
    )
    side = models.CharField(max_length=4, choices=Side.choices)
    price = MoneyField(help_text="In project units (rial for IRR markets).")
    quantity = MoneyField(help_text="Base amount.")
    quote_amount = MoneyField(help_text="price × quantity, in the quote asset.")
    fee = MoneyField(default=Decimal("0"))
    fee_asset = models.CharField(max_length=16, blank=True,
                                 help_text="Upper case; blank: the quote.")
    executed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-executed_at", "-id"]
        indexes = [
            models.Index(fields=["executed_at"], name="trade_executed_at"),
            models.Index(fields=["market", "executed_at"], name="trade_market_executed_at"),
            models.Index(fields=["exchange", "executed_at"], name="trade_exchange_executed_at"),
            # Reports: volume and fees of a period per market and fee asset,
            # read from the index alone (covering).
            models.Index(
                fields=["executed_at", "market", "fee_asset", "fee", "price", "quote_amount"],
                name="trade_executed_cover",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "exchange_trade_id"], name="trade_unique_exchange_trade_id"
            ),
            models.CheckConstraint(condition=_in("side", Side), name="trade_side_valid"),
            models.CheckConstraint(
                condition=Q(price__gte=0, quantity__gt=0, quote_amount__gte=0, fee__gte=0),
                name="trade_amounts_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.exchange}:{self.exchange_trade_id} {self.side} {number(self.quantity)} "
                f"{self.market}")


class DailyRiskSnapshot(models.Model):
    """The risk figures of one trading day (TRADING_DAY_TZ), refreshed through
    the day and closed after midnight. Rial and USDT results are kept apart."""

    day = models.DateField(unique=True)
    timezone = models.CharField(max_length=64, default="Asia/Tehran")
    realized_pnl_irr = MoneyField(default=Decimal("0"))
    realized_pnl_usdt = MoneyField(default=Decimal("0"))
    fees_irr = MoneyField(default=Decimal("0"))
    fees_usdt = MoneyField(default=Decimal("0"))
    volume_irr = MoneyField(default=Decimal("0"))
    volume_usdt = MoneyField(default=Decimal("0"))
    trade_count = models.PositiveIntegerField(default=0)
    round_trips = models.PositiveIntegerField(default=0)
    # Intraday: over the day's round trips in closing order (trading.pnl); the
    # reports' drawdown over days is another figure.
    max_drawdown_irr = MoneyField(default=Decimal("0"), verbose_name="max intraday drawdown IRR")
    max_drawdown_usdt = MoneyField(default=Decimal("0"),
                                   verbose_name="max intraday drawdown USDT")
    exposure = models.JSONField(default=dict, blank=True, help_text="Open exposure per asset.")
    balances = models.JSONField(default=dict, blank=True, help_text="Balances per exchange.")
    limits = models.JSONField(default=dict, blank=True, help_text="Limits in force.")
    breaches = models.JSONField(default=list, blank=True)
    kill_switch_active = models.BooleanField(default=False)
    closed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(fees_irr__gte=0, fees_usdt__gte=0, volume_irr__gte=0,
                            volume_usdt__gte=0, max_drawdown_irr__gte=0, max_drawdown_usdt__gte=0),
                name="snapshot_amounts_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} ({'closed' if self.closed else 'open'})"


def slippage_overrides_validate(value: object) -> None:
    """RiskSettings.slippage_bps_by_market: market codes of this app, decimal strings."""
    known = [f"{base}-{quote}" for base, quote in Market.objects.values_list("base", "quote")]
    try:
        overrides_parse(value, known_markets=known)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class RiskSettings(models.Model):
    """The one row of risk limits and the kill switch, read on every decision."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    kill_switch = models.BooleanField(default=False, help_text="On: no new orders anywhere.")
    kill_switch_reason = models.TextField(blank=True)
    kill_switch_set_by = models.CharField(max_length=150, blank=True)
    kill_switch_set_at = models.DateTimeField(null=True, blank=True)
    max_daily_loss_irr = MoneyField(default=Decimal("50000000"), help_text="Rial.")
    max_daily_loss_usdt = MoneyField(default=Decimal("50"))
    max_order_value_irr = MoneyField(default=Decimal("100000000"), help_text="Rial, per leg.")
    max_order_value_usdt = MoneyField(default=Decimal("100"))
    max_exposure = models.JSONField(
        default=dict, blank=True, validators=[validate_max_exposure],
        help_text='Maximum open exposure per asset, e.g. {"BTC": "0.05", "ETH": "1"}: upper-case '
                  'assets, amounts as strings with a decimal point ("0" opens nothing more).',
    )
    min_profit_pct = models.DecimalField(
        max_digits=8, decimal_places=4, default=Decimal("0.1"), help_text="Percent, after fees."
    )
    min_profit_irr = MoneyField(default=Decimal("100000"), help_text="Rial, after fees.")
    min_profit_usdt = MoneyField(default=Decimal("0.1"))
    max_book_age_ms = models.PositiveIntegerField(default=3000)
    max_unwind_loss_pct = models.DecimalField(
        max_digits=8, decimal_places=4, default=Decimal("1.0"),
        help_text="Worst price move (percent) accepted to unwind a one-sided fill.",
    )
    # Gross unwind losses of the trading day (losses only, never netted against
    # profits): reaching one stops trading in its quote like the daily loss limit.
    max_daily_unwind_loss_irr = MoneyField(
        default=Decimal("20000000"),
        help_text="Rial. Sum of today's unwind losses (not netted against profits) that "
                  "stops trading, beside the net daily loss limit.")
    max_daily_unwind_loss_usdt = MoneyField(
        default=Decimal("20"), help_text="USDT. As above, for USDT markets.")
    max_book_deviation_pct = models.DecimalField(
        max_digits=8, decimal_places=4, default=Decimal("5"),
        help_text="Percent. A book whose mid strays further than this from the median mid of "
                  "the other exchanges' fresh books of its market is refused (0: not checked). "
                  "Crossed or disordered books are always refused.")
    protection_max_failures = models.PositiveSmallIntegerField(
        default=3,
        help_text="Unwinds or failed round trips of one market and direction (buy exchange → "
                  "sell exchange) within the window that pause that direction (0: never).")
    protection_window_minutes = models.PositiveIntegerField(
        default=30, help_text="Minutes over which unwinds and failures are counted.")
    protection_cooldown_minutes = models.PositiveIntegerField(
        default=60, help_text="Minutes a tripped market and direction stays paused.")
    slippage_bps = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_SLIPPAGE_BPS)],
        help_text="Basis points a leg's limit may go beyond the worst level walked (buy higher, "
                  "sell lower), so a book that moved a little still fills it; reduced as far as "
                  "needed to keep the worst case at the minimum profit.",
    )
    slippage_bps_by_market = models.JSONField(
        default=dict, blank=True, validators=[slippage_overrides_validate],
        help_text='Per market, instead of the default: basis points as decimal strings, '
                  'e.g. {"BTC-IRR": "15", "USDT-IRR": "0"}.',
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "risk settings"
        verbose_name_plural = "risk settings"
        permissions = [
            ("can_trip_kill_switch", "Can trip or reset the kill switch"),
            ("can_pause_trading", "Can pause or resume an exchange or a market"),
            ("can_reset_breaker", "Can reset an exchange's circuit breaker"),
            ("can_run_recovery", "Can run order recovery for an exchange"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="risk_settings_singleton"),
            models.CheckConstraint(
                condition=Q(max_daily_loss_irr__gte=0, max_daily_loss_usdt__gte=0,
                            max_order_value_irr__gte=0, max_order_value_usdt__gte=0,
                            min_profit_irr__gte=0, min_profit_usdt__gte=0,
                            min_profit_pct__gte=0, max_unwind_loss_pct__gte=0),
                name="risk_settings_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(max_daily_unwind_loss_irr__gte=0, max_daily_unwind_loss_usdt__gte=0,
                            max_book_deviation_pct__gte=0),
                name="risk_settings_sanity_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(slippage_bps__gte=0, slippage_bps__lte=MAX_SLIPPAGE_BPS),
                name="risk_settings_slippage_in_range",
            ),
        ]

    def __str__(self) -> str:
        return "Risk settings" + (" (KILL SWITCH ON)" if self.kill_switch else "")

    @classmethod
    def load(cls) -> RiskSettings:
        obj, _ = cls.objects.get_or_create(id=cls.SINGLETON_ID)
        return obj


class PairProtection(models.Model):
    """A market and direction (buy exchange → sell exchange) paused after
    repeated unwinds or failed round trips (``trading.services.protections``).

    Active while ``until`` is in the future; it ends on its own then, or
    earlier through the admin's confirmed action (``ended_by``)."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+")
    buy_exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    sell_exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(help_text="What tripped it.")
    opportunity_ids = models.JSONField(default=list, blank=True,
                                       help_text="The opportunities counted.")
    started_at = models.DateTimeField(db_index=True)
    until = models.DateTimeField(db_index=True, help_text="Detection refuses the pair until then.")
    ended_at = models.DateTimeField(null=True, blank=True,
                                    help_text="Ended early by an operator.")
    ended_by = models.CharField(max_length=150, blank=True)
    ended_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["until", "market", "buy_exchange", "sell_exchange"],
                                name="protection_until_pair")]
        permissions = [("can_end_protection", "Can end a pair protection early")]

    def __str__(self) -> str:
        return f"{self.market_id} {self.buy_exchange_id}→{self.sell_exchange_id} until {self.until}"


# Report rollups: the per-day aggregates the report pages read for closed
# days, written by ``trading.reports.rollups.report_rollup_write`` when a
# day's snapshot closes. Derived data: deleting them only makes the reports
# compute those days live again.

# Wide enough for a sum of fee × price products (two money fields).
PRODUCT_MAX_DIGITS, PRODUCT_DECIMAL_PLACES = 72, 36


class ReportDay(models.Model):
    """A trading day whose report rollup rows are written (in ``timezone``)."""

    day = models.DateField(unique=True)
    timezone = models.CharField(max_length=64)
    written_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"report rollup {self.day} ({self.timezone})"


class OpportunityRollup(models.Model):
    """Closed opportunities of one trading day per market, exchange pair,
    status and quote asset: count, wins, P&L sum, best and worst."""

    day = models.DateField()
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+")
    buy_exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    sell_exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=OpportunityStatus.choices)
    quote_asset = models.CharField(max_length=16)
    count = models.PositiveIntegerField()
    wins = models.PositiveIntegerField()
    realized_pnl = MoneyField(help_text="Sum, in the quote asset.")
    best = MoneyField()
    worst = MoneyField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "market", "buy_exchange", "sell_exchange", "status", "quote_asset"],
                name="opportunityrollup_unique_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.market} {self.status} ×{self.count}"


class TradeRollup(models.Model):
    """Fills of one trading day per market and fee asset: count, volume,
    base quantity, fee sum and sum of fee × price (base-asset fees valued at
    each fill's price; zero for fees in any other asset)."""

    day = models.DateField()
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+")
    fee_asset = models.CharField(max_length=16, blank=True)
    count = models.PositiveIntegerField()
    volume = MoneyField(help_text="Sum of quote amounts.")
    quantity = MoneyField(help_text="Sum of base quantities.")
    fee = MoneyField(help_text="Sum of fees, in fee_asset.")
    fee_times_price = models.DecimalField(max_digits=PRODUCT_MAX_DIGITS,
                                          decimal_places=PRODUCT_DECIMAL_PLACES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "market", "fee_asset"],
                                    name="traderollup_unique_group"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.market} {self.fee_asset} ×{self.count}"


# Alerting, the ledger and capital budgets live in their own modules; imported
# here so that Django registers them in the trading app.
from trading.alerts.models import *  # noqa: E402, F403
from trading.capital.models import *  # noqa: E402, F403
