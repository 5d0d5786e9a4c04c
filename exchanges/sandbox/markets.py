"""The sandbox's market catalogue: what each exchange lists, how it spells it, in what units.

Everything below is the sandbox's own table, written from ``docs/EXCHANGES.md`` and
deliberately independent of the adapters' symbol table, so that a unit mistake in one is
not mirrored in the other.

Prices inside the sandbox live in each exchange's *native* unit: rial for Nobitex ``IRT``
and Invex ``IRR`` markets, toman for Wallex ``TMN`` markets, USDT for USDT markets.
``price_factor`` converts a canonical price (rial or USDT) into the native unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

EXCHANGES: tuple[str, ...] = ("nobitex", "wallex", "invex")

# Canonical markets (base, quote) with quote "IRR" meaning rial.
CANONICAL_MARKETS: tuple[tuple[str, str], ...] = (
    ("BTC", "IRR"),
    ("ETH", "IRR"),
    ("USDT", "IRR"),
    ("BTC", "USDT"),
    ("ETH", "USDT"),
)

# Starting fair prices in canonical units (rial or USDT).
USDT_IRR = Decimal("1000000")
BTC_USDT = Decimal("100000")
ETH_USDT = Decimal("3500")

# A typical resting size per book level, in the base asset.
LEVEL_LOT: dict[str, Decimal] = {
    "BTC": Decimal("0.05"),
    "ETH": Decimal("1.5"),
    "USDT": Decimal("2500"),
}

TAKER_FEES: dict[str, Decimal] = {
    "nobitex": Decimal("0.0025"),
    "wallex": Decimal("0.004"),
    "invex": Decimal("0.003"),
}
MAKER_FEES: dict[str, Decimal] = {
    "nobitex": Decimal("0.001"),
    "wallex": Decimal("0.003"),
    "invex": Decimal("0.002"),
}


@dataclass(frozen=True)
class Market:
    """One market on one exchange, in that exchange's spelling and units."""

    exchange: str
    symbol: str  # e.g. BTCIRT, BTCTMN, BTC_IRR
    base: str  # canonical base, e.g. BTC
    quote: str  # canonical quote: IRR or USDT
    base_currency: str  # exchange's spelling, e.g. btc / BTC
    quote_currency: str  # exchange's spelling, e.g. rls / TMN / IRR / usdt / USDT
    price_factor: Decimal  # native price = canonical price * price_factor
    tick: Decimal  # price step in native units
    step: Decimal  # amount step in base asset
    min_notional: Decimal  # minimum order value in native quote units
    max_notional: Decimal | None  # maximum order value in native quote units, if any

    @property
    def canonical(self) -> tuple[str, str]:
        return (self.base, self.quote)


def _nobitex(base: str, quote: str) -> Market:
    irr = quote == "IRR"
    return Market(
        exchange="nobitex",
        symbol=f"{base}{'IRT' if irr else 'USDT'}",
        base=base,
        quote=quote,
        base_currency=base.lower(),
        quote_currency="rls" if irr else "usdt",
        price_factor=Decimal(1),
        tick=Decimal("10") if irr else Decimal("0.01"),
        step=_step(base),
        # Nobitex documents a minimum (3,000,000 rial, 11 USDT) and no maximum.
        min_notional=Decimal("3000000") if irr else Decimal("11"),
        max_notional=None,
    )


def _wallex(base: str, quote: str) -> Market:
    irr = quote == "IRR"
    return Market(
        exchange="wallex",
        symbol=f"{base}{'TMN' if irr else 'USDT'}",
        base=base,
        quote=quote,
        base_currency=base,
        quote_currency="TMN" if irr else "USDT",
        price_factor=Decimal("0.1") if irr else Decimal(1),
        tick=Decimal("1") if irr else Decimal("0.01"),
        step=_step(base),
        # minNotional 100,000 toman in TMN markets (exchanges.md, "Corrections": the
        # ccxt example); /v1/markets documents no maximum value.
        min_notional=Decimal("100000") if irr else Decimal("10"),
        max_notional=None,
    )


def _invex(base: str, quote: str) -> Market:
    irr = quote == "IRR"
    return Market(
        exchange="invex",
        symbol=f"{base}_{quote}",
        base=base,
        quote=quote,
        base_currency=base,
        quote_currency=quote,
        price_factor=Decimal(1),
        tick=Decimal("10") if irr else Decimal("0.01"),
        step=_step(base),
        min_notional=Decimal("3000000") if irr else Decimal("10"),
        max_notional=Decimal("100000000000000") if irr else Decimal("1000000"),
    )


def _step(base: str) -> Decimal:
    return {"BTC": Decimal("0.000001"), "ETH": Decimal("0.00001"), "USDT": Decimal("0.01")}[base]


_BUILDERS = {"nobitex": _nobitex, "wallex": _wallex, "invex": _invex}

MARKETS: dict[str, dict[str, Market]] = {
    exchange: {
        m.symbol: m for m in (_BUILDERS[exchange](b, q) for b, q in CANONICAL_MARKETS)
    }
    for exchange in EXCHANGES
}


def market(exchange: str, symbol: str) -> Market | None:
    """The market an exchange lists under ``symbol``, or None."""
    return MARKETS.get(exchange, {}).get(symbol)


def market_for(exchange: str, canonical: tuple[str, str]) -> Market:
    for m in MARKETS[exchange].values():
        if m.canonical == canonical:
            return m
    raise KeyError((exchange, canonical))


def currencies(exchange: str) -> list[str]:
    """Every currency an exchange trades, in its own spelling."""
    seen: dict[str, None] = {}
    for m in MARKETS[exchange].values():
        seen.setdefault(m.quote_currency, None)
        seen.setdefault(m.base_currency, None)
    return list(seen)


def default_balances(exchange: str) -> dict[str, Decimal]:
    """Generous starting balances, keyed by the exchange's currency names and native units."""
    irr = Decimal("100000000000")  # 100 billion rial = 10 billion toman
    rial_name = {"nobitex": "rls", "wallex": "TMN", "invex": "IRR"}[exchange]
    rial_amount = irr / 10 if exchange == "wallex" else irr
    names = {c.upper(): c for c in currencies(exchange)}
    return {
        rial_name: rial_amount,
        names["BTC"]: Decimal("2"),
        names["ETH"]: Decimal("50"),
        names["USDT"]: Decimal("100000"),
    }
