"""What a detection cycle reads from the database: the enabled markets and
their tradable listings, the in-flight opportunities, and the limits of the
risk settings (books and balances come from Redis: ``trading.services.books``
and ``trading.services.balances``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from arbsite.settings_schema import SettingError
from exchanges.conformance.gate import conformance_blocker
from exchanges.models import Exchange, ExchangeMarket, Market
from trading.detection.cycle import Limits, Listing, MarketListings
from trading.detection.slippage import SlippageSetting, bps_parse
from trading.models import Opportunity, RiskSettings
from trading.services import risk
from trading.services.arbitrage import ZERO
from trading.services.opportunities import IN_FLIGHT

logger = logging.getLogger(__name__)


def listings_read() -> tuple[list[MarketListings], dict[str, Exchange], dict[str, Market]]:
    """Enabled markets with their tradable listings (one query)."""
    rows = (ExchangeMarket.objects
            .filter(enabled=True, market__enabled=True,
                    exchange__enabled=True, exchange__trading_enabled=True)
            .select_related("exchange", "market")
            # Detection never needs the credentials: not read, not decrypted.
            .defer("exchange__api_key", "exchange__api_secret")
            .order_by("market__base", "market__quote", "exchange__name"))
    by_market: dict[str, list[Listing]] = {}
    exchanges: dict[str, Exchange] = {}
    markets: dict[str, Market] = {}
    blocked: dict[int, bool] = {}
    for row in rows:
        # The conformance gate (one rule, read off the row already loaded).
        if blocked.setdefault(row.exchange_id, conformance_blocker(row.exchange) is not None):
            continue
        code = row.market.code
        markets[code] = row.market
        exchanges[row.exchange.name] = row.exchange
        by_market.setdefault(code, []).append(Listing(
            row.exchange.name, row.exchange.taker_fee, row.amount_step, row.min_order_value,
            row.price_tick))
    result = [MarketListings(code, markets[code].base, markets[code].quote, tuple(listings))
              for code, listings in by_market.items() if len(listings) > 1]
    return result, exchanges, markets


@dataclass(frozen=True)
class InFlight:
    """The in-flight opportunities, read once per cycle: their pairs (not
    detected again) and what they plan to trade (their exposure)."""

    pairs: set[tuple[str, str, str]]  # market code, buy exchange, sell exchange
    quantities: list[tuple[str, Decimal]]  # base asset, quantity


def in_flight_read() -> InFlight:
    """Every in-flight opportunity: one query."""
    rows = (Opportunity.objects.filter(status__in=IN_FLIGHT)
            .values_list("market__base", "market__quote", "buy_exchange__name",
                         "sell_exchange__name", "quantity"))
    pairs: set[tuple[str, str, str]] = set()
    quantities: list[tuple[str, Decimal]] = []
    for base, quote, buy, sell, quantity in rows:
        pairs.add((f"{base}-{quote}", buy, sell))
        quantities.append((base, quantity))
    return InFlight(pairs, quantities)


def limits_read(markets: list[MarketListings], row: RiskSettings, in_flight: InFlight) -> Limits:
    quotes = {m.quote for m in markets}
    bases = {m.base for m in markets}
    exposure_room: dict[str, Decimal] = {}
    limited: dict[str, Decimal] = {}
    bad_settings: dict[str, dict[str, str]] = {}
    for base in sorted(bases):
        try:
            limit = risk.exposure_limit(row, base)
        except SettingError as exc:
            # A row written before the admin checked it: this asset's markets
            # are skipped (rejected, naming the setting); the others trade.
            bad_settings[base] = {"setting": exc.setting, "asset": base,
                                  "problem": exc.message}
            continue
        if limit is not None:
            limited[base] = limit
    if bad_settings:
        logger.error("detection: risk settings unreadable, markets of %s skipped this cycle: %s",
                     ", ".join(bad_settings),
                     "; ".join(dict.fromkeys(f"{b['setting']}: {b['problem']}"
                                             for b in bad_settings.values())))
    if limited:
        open_now = risk.exposure_open(in_flight=in_flight.quantities)
        exposure_room = {base: limit - open_now.get(base, ZERO) for base, limit in limited.items()}
    return Limits(
        max_book_age_ms=row.max_book_age_ms,
        min_profit_pct=row.min_profit_pct,
        min_profit_abs={q: risk.min_profit_abs(row, q) for q in quotes},
        max_order_value={q: risk.max_order_value(row, q) for q in quotes},
        exposure_room=exposure_room,
        max_book_deviation_pct=row.max_book_deviation_pct,
        bad_settings=bad_settings,
        slippage=slippage_read(markets, row),
    )


def slippage_read(markets: list[MarketListings], row: RiskSettings) -> dict[str, SlippageSetting]:
    """The buffer in force per market: its override, else the default.

    The admin form refuses a malformed override; one written around it (a
    shell, a script) is logged and the default applies to that market, which
    is bounded by the minimum profit like any buffer."""
    overrides = row.slippage_bps_by_market or {}
    if not isinstance(overrides, dict):
        logger.error("risk settings: slippage_bps_by_market is not an object (%r); "
                     "the default buffer applies everywhere", overrides)
        overrides = {}
    default = SlippageSetting(Decimal(row.slippage_bps), "default")
    settings: dict[str, SlippageSetting] = {}
    for market in markets:
        value = overrides.get(market.code)
        if value is None:
            settings[market.code] = default
            continue
        try:
            settings[market.code] = SlippageSetting(bps_parse(value, what=market.code), "market")
        except ValueError as exc:
            logger.error("risk settings: slippage override ignored, the default applies: %s", exc)
            settings[market.code] = default
    return settings
