"""What the project knows of each exchange before the admin takes over:
how it spells a canonical market, its price unit, default precision rules
and the environment variables of its base URL and credentials.

``python manage.py setup`` uses it to create Exchange and ExchangeMarket
rows; after that the rows in the admin are the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal


@dataclass(frozen=True)
class ExchangeDefaults:
    adapter: str
    default_base_url: str
    base_url_env: str
    api_key_env: str
    api_secret_env: str | None
    taker_fee: Decimal
    maker_fee: Decimal
    # How long an API key lives, where the exchange documents it (None: not
    # documented), and the doc line that says so.
    api_key_lifetime: timedelta | None = None
    api_key_lifetime_doc: str = ""


EXCHANGES: dict[str, ExchangeDefaults] = {
    "nobitex": ExchangeDefaults(
        "nobitex", "https://apiv2.nobitex.ir", "NOBITEX_BASE_URL", "NOBITEX_API_TOKEN", None,
        Decimal("0.0025"), Decimal("0.0020"),
        # A token from the profile page with "remember me", or a login with
        # remember=yes, lasts 30 days (4 hours otherwise) [doc: auth.md].
        timedelta(days=30),
        "nobitex/docs-api auth.md: tokens last 4 hours, 30 days with remember=yes "
        "or 'remember me' at login",
    ),
    "wallex": ExchangeDefaults(
        "wallex", "https://api.wallex.ir", "WALLEX_BASE_URL", "WALLEX_API_KEY", None,
        Decimal("0.0040"), Decimal("0.0030"),
        timedelta(days=90),
        "Wallex API docs: API keys expire within 90 days (at most 3 keys)",
    ),
    # Base URL includes /trading/v1; the documented hosts are invex.ir and
    # sandbox.invex.ir [doc: invex swagger ``servers``; api.invex.ir appears only
    # in third-party bots].
    "invex": ExchangeDefaults(
        "invex", "https://invex.ir/trading/v1", "INVEX_BASE_URL", "INVEX_API_KEY",
        "INVEX_PRIVATE_KEY", Decimal("0.0030"), Decimal("0.0020"),
        None, "rabbitix/invex-trading-api-docs: no key lifetime documented",
    ),
}

# Amount steps by base asset; the exchange's own rules (options/markets
# endpoints) may be stricter and can be set per row in the admin.
AMOUNT_STEP = {"BTC": Decimal("0.000001"), "ETH": Decimal("0.00001"), "USDT": Decimal("0.01")}
DEFAULT_AMOUNT_STEP = Decimal("0.0001")
# Minimum order values in project quote units (Nobitex: 3,000,000 rial or 11 USDT).
MIN_ORDER_VALUE = {"IRR": Decimal("3000000"), "USDT": Decimal("11")}


@dataclass(frozen=True)
class ListingDefaults:
    symbol: str
    price_scale: Decimal
    amount_step: Decimal
    price_tick: Decimal
    min_order_value: Decimal


def default_listing(adapter: str, base: str, quote: str) -> ListingDefaults:
    """How ``adapter`` spells BASE-QUOTE and the rules to start from."""
    base, quote = base.upper(), quote.upper()
    step = AMOUNT_STEP.get(base, DEFAULT_AMOUNT_STEP)
    minimum = MIN_ORDER_VALUE.get(quote, Decimal("0"))
    irr = quote == "IRR"
    tick = Decimal("10") if irr else Decimal("0.01")
    if adapter == "nobitex":
        symbol = f"{base}{'IRT' if irr else quote}"  # IRT markets quote in rial
        return ListingDefaults(symbol, Decimal("1"), step, tick, minimum)
    if adapter == "wallex":
        symbol = f"{base}{'TMN' if irr else quote}"  # TMN markets quote in toman
        return ListingDefaults(symbol, Decimal("10") if irr else Decimal("1"), step, tick, minimum)
    if adapter == "invex":
        return ListingDefaults(f"{base}_{quote}", Decimal("1"), step, tick, minimum)
    raise ValueError(f"unknown exchange adapter {adapter!r}")
