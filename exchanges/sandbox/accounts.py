"""Accounts the sandbox knows: an API key per exchange with balances in native units."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .markets import EXCHANGES, default_balances


@dataclass
class SandboxAccount:
    """An API key on one exchange.

    ``balances`` are keyed by the exchange's own currency names (Nobitex ``rls``/``btc``,
    Wallex ``TMN``/``BTC`` with TMN in toman, Invex ``IRR``/``BTC``); None gives generous
    defaults. ``public_key_hex`` (hex DER SubjectPublicKeyInfo) is required for Invex.
    ``permissions``: ``read`` and ``trade`` (the exchanges' API-key permissions); a key
    without ``trade`` is refused on place and cancel, as each exchange refuses it.
    """

    exchange: str
    api_key: str
    public_key_hex: str | None = None
    balances: dict[str, Decimal] | None = None
    permissions: tuple[str, ...] = ("read", "trade")

    def __post_init__(self) -> None:
        if self.exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {self.exchange!r}")
        unknown = set(self.permissions) - {"read", "trade"}
        if unknown:
            raise ValueError(f"unknown permissions {sorted(unknown)}; use read, trade")
        self.permissions = tuple(self.permissions)
        if self.balances is None:
            self.balances = default_balances(self.exchange)
        else:
            self.balances = {k: Decimal(str(v)) for k, v in self.balances.items()}


@dataclass
class Wallet:
    """Balances of one account: total and the part blocked by open orders."""

    total: dict[str, Decimal] = field(default_factory=dict)
    blocked: dict[str, Decimal] = field(default_factory=dict)

    def available(self, currency: str) -> Decimal:
        return self.total.get(currency, Decimal(0)) - self.blocked.get(currency, Decimal(0))

    def add(self, currency: str, amount: Decimal) -> None:
        self.total[currency] = self.total.get(currency, Decimal(0)) + amount

    def block(self, currency: str, amount: Decimal) -> None:
        self.blocked[currency] = self.blocked.get(currency, Decimal(0)) + amount
