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
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Who changed fees, flags or URLs, and when. Credentials stay out of it.
    history = HistoricalRecords(excluded_fields=["api_key", "api_secret"])

    class Meta:
        ordering = ["name"]
        permissions = [
            # Where the credentials go: its own permission, and a confirmation
            # (exchanges/services/base_url.py).
            ("change_exchange_base_url", "Can change an exchange's base URL"),
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
