"""Exchanges, canonical markets and each exchange's spelling of them.

Inside the project every price of an IRR-quoted market is in rial; an
exchange that quotes in toman (Wallex) has ``price_scale = 10`` on its
ExchangeMarket rows and its adapter converts at the boundary, both ways.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from arbsite.fields import EncryptedTextField, MoneyField


class Exchange(models.Model):
    class Adapter(models.TextChoices):
        NOBITEX = "nobitex", "Nobitex"
        WALLEX = "wallex", "Wallex"
        INVEX = "invex", "Invex"

    class Conformance(models.TextChoices):
        NEVER = "never", "never checked"
        PASSED = "passed", "passed"
        FAILED = "failed", "failed"

    name = models.SlugField(max_length=32, unique=True, help_text="e.g. nobitex")
    adapter = models.CharField(max_length=16, choices=Adapter.choices)
    enabled = models.BooleanField(
        default=True, help_text="Fetch books and sync orders on this exchange."
    )
    trading_enabled = models.BooleanField(
        default=True, help_text="Place new orders here (off = paused; sync still runs)."
    )
    taker_fee = models.DecimalField(
        max_digits=8, decimal_places=6, default=Decimal("0.0025"),
        help_text="Taker fee rate, e.g. 0.0025 for 0.25%.",
    )
    maker_fee = models.DecimalField(
        max_digits=8, decimal_places=6, default=Decimal("0.0020"),
        help_text="Maker fee rate, e.g. 0.002 for 0.2%.",
    )
    base_url = models.URLField(
        blank=True,
        help_text="Blank: from the environment (e.g. NOBITEX_BASE_URL) or the real host.",
    )
    api_key = EncryptedTextField(
        blank=True, help_text="API token or key. Stored encrypted; never shown back."
    )
    api_secret = EncryptedTextField(
        blank=True, help_text="Signing key where the exchange needs one (Invex). Encrypted."
    )
    wire_variants = models.JSONField(
        default=dict, blank=True,
        help_text="How this exchange reads the points its docs leave open, e.g. "
                  '{"invex-signing": "compact"} (exchanges/variants.py). Empty: the defaults. '
                  "Set by the conformance check.",
    )
    # When the API key now in use was entered in the admin, or first seen in
    # the environment (``exchanges.credentials``): its documented lifetime
    # runs from then. The fingerprint (an HMAC, never the key) tells a new key.
    api_key_entered_at = models.DateTimeField(null=True, blank=True)
    api_key_fingerprint = models.CharField(max_length=32, blank=True, editable=False)
    # The last conformance check (``exchanges.conformance``), read by the
    # trading gate in one look at the row: its result, when, against which
    # base URL (a pass holds only for that URL), and the points that failed.
    conformance_state = models.CharField(
        max_length=8, choices=Conformance.choices, default=Conformance.NEVER, editable=False)
    conformance_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    conformance_base_url = models.CharField(max_length=200, blank=True, editable=False)
    conformance_failed = models.TextField(blank=True, editable=False)
    # An operator's override of the gate (its own permission and a reason),
    # for the base URL it was given for.
    conformance_override_by = models.CharField(max_length=150, blank=True, editable=False)
    conformance_override_at = models.DateTimeField(null=True, blank=True, editable=False)
    conformance_override_reason = models.TextField(blank=True, editable=False)
    conformance_override_base_url = models.CharField(max_length=200, blank=True,
                                                     editable=False)
    # The last read of the exchange's rules and fees (``exchanges.services.rules``).
    rules_read_at = models.DateTimeField(null=True, blank=True, editable=False)
    rules_read_problems = models.TextField(blank=True, editable=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Who changed fees, flags or URLs, and when. Credentials stay out of it.
    history = HistoricalRecords(excluded_fields=["api_key", "api_secret", "api_key_fingerprint"])

    class Meta:
        ordering = ["name"]
        permissions = [
            # Where the credentials go: its own permission, and a confirmation
            # (exchanges/services/base_url.py).
            ("change_exchange_base_url", "Can change an exchange's base URL"),
            # Trading without a passed conformance check: its own permission, a
            # reason and a confirmation (exchanges/conformance/store.py).
            ("override_conformance",
             "Can let an exchange trade without a passed conformance check"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(taker_fee__gte=0, taker_fee__lt=1, maker_fee__gte=0, maker_fee__lt=1),
                name="exchange_fee_rates_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from exchanges.variants import validate_variants

        try:
            validate_variants(self.adapter, self.wire_variants)
        except ValueError as exc:
            raise ValidationError({"wire_variants": str(exc)}) from None


class Market(models.Model):
    """A canonical market ``BASE-QUOTE`` (BTC-IRR, USDT-IRR, BTC-USDT …)."""

    base = models.CharField(max_length=16, help_text="Base asset, upper case (BTC).")
    quote = models.CharField(max_length=16, help_text="Quote asset, upper case (IRR, USDT).")
    enabled = models.BooleanField(default=True, help_text="Trade this market.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["base", "quote"], name="market_unique_pair"),
            models.CheckConstraint(
                condition=Q(base__regex=r"^[A-Z0-9]+$", quote__regex=r"^[A-Z0-9]+$"),
                name="market_assets_upper_case",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def code(self) -> str:
        return f"{self.base}-{self.quote}"


class ExchangeMarket(models.Model):
    """How one exchange spells a market, its price unit and precision rules.

    ``price_tick`` and ``min_order_value`` are in project units (rial for
    IRR markets), so they compare directly with the project's prices.
    """

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="markets")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="listings")
    symbol = models.CharField(max_length=32, help_text="The exchange's spelling: BTCIRT, BTCTMN …")
    price_scale = models.DecimalField(
        max_digits=8, decimal_places=4, default=Decimal("1"),
        help_text="Project price = exchange price × scale (10 for toman-quoted markets).",
    )
    amount_step = MoneyField(default=Decimal("0.000001"), help_text="Amounts round down to this.")
    price_tick = MoneyField(default=Decimal("1"), help_text="Price tick in project units.")
    min_order_value = MoneyField(
        default=Decimal("0"), help_text="Minimum order value in project quote units."
    )
    enabled = models.BooleanField(default=True)
    # Rules an operator set by hand: {field: {"value", "by", "at"}}. The
    # exchange's rules never loosen them (exchanges/services/rules.py).
    operator_rules = models.JSONField(default=dict, blank=True, editable=False)
    rules_read_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["exchange__name", "market__base", "market__quote"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "market"], name="exchange_market_unique"),
            models.UniqueConstraint(fields=["exchange", "symbol"], name="exchange_symbol_unique"),
            models.CheckConstraint(
                condition=Q(price_scale__gt=0, amount_step__gt=0, price_tick__gt=0,
                            min_order_value__gte=0),
                name="exchange_market_rules_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange.name}:{self.symbol}"


class ConformanceRun(models.Model):
    """One run of ``manage.py exchange NAME conformance``: what each point
    assumed, what the exchange answered, the verdict; kept as the audit of
    every check (the Exchange row holds the latest result for the gate)."""

    class Result(models.TextChoices):
        PASSED = "passed", "passed"
        FAILED = "failed", "failed"

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE,
                                 related_name="conformance_runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    base_url = models.CharField(max_length=200)
    result = models.CharField(max_length=8, choices=Result.choices)
    failed = models.TextField(blank=True, help_text="The points that failed, one a line.")
    test_order = models.BooleanField(default=False, help_text="A test order was placed.")
    applied = models.BooleanField(default=False,
                                  help_text="The observed wire variants were stored (--apply).")
    observed_variants = models.JSONField(default=dict, blank=True)
    variants_before = models.JSONField(default=dict, blank=True)
    rows = models.JSONField(default=list, blank=True,
                            help_text="Point, assumed, answered, verdict.")
    actor = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["exchange", "-started_at"],
                                name="conformance_run_latest")]

    def __str__(self) -> str:
        return f"{self.exchange.name} conformance {self.result} at {self.started_at:%Y-%m-%d %H:%M}"
