"""The report figures' data shapes: what the selectors return and the
tables render. Money is Decimal throughout; rial (IRR) and USDT stay apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from trading.models import OpportunityStatus
from trading.reports.periods import Period

ZERO = Decimal("0")
HUNDRED = Decimal("100")
PROBLEM_STATUSES = (OpportunityStatus.PARTIAL, OpportunityStatus.UNWOUND, OpportunityStatus.FAILED)


@dataclass(frozen=True)
class DayRow:
    """One trading day; ``source`` is ``snapshot`` (closed day) or ``live``."""

    day: date
    source: str
    realized_pnl_irr: Decimal = ZERO
    realized_pnl_usdt: Decimal = ZERO
    fees_irr: Decimal = ZERO
    fees_usdt: Decimal = ZERO
    volume_irr: Decimal = ZERO
    volume_usdt: Decimal = ZERO
    trade_count: int = 0
    round_trips: int = 0

    def pnl(self, quote: str) -> Decimal:
        return getattr(self, f"realized_pnl_{quote.lower()}")

    def fees(self, quote: str) -> Decimal:
        return getattr(self, f"fees_{quote.lower()}")

    def volume(self, quote: str) -> Decimal:
        return getattr(self, f"volume_{quote.lower()}")


@dataclass
class PnlStats:
    """Round-trip statistics of a group of closed opportunities, in one quote.

    A round trip is a closed opportunity that traded (every status but
    failed); failed ones count in ``closed`` and ``realized_pnl`` only.
    """

    quote: str
    closed: int = 0
    round_trips: int = 0
    wins: int = 0
    realized_pnl: Decimal = ZERO
    round_trip_pnl: Decimal = ZERO
    best: Decimal | None = None
    worst: Decimal | None = None
    problems: int = 0
    problems_pnl: Decimal = ZERO

    @property
    def win_rate(self) -> Decimal | None:
        """Percent of round trips with a positive realized P&L."""
        if not self.round_trips:
            return None
        return (Decimal(self.wins) * HUNDRED / self.round_trips).quantize(Decimal("0.01"))

    @property
    def average(self) -> Decimal | None:
        if not self.round_trips:
            return None
        return self.round_trip_pnl / self.round_trips

    def add(self, row: dict) -> None:
        """Fold one grouped row (one status) into the statistics."""
        self.closed += row["n"]
        self.realized_pnl += row["total"] or ZERO
        if row["status"] in PROBLEM_STATUSES:
            self.problems += row["n"]
            self.problems_pnl += row["total"] or ZERO
        if row["status"] == OpportunityStatus.FAILED:
            return
        self.round_trips += row["n"]
        self.wins += row["wins"]
        self.round_trip_pnl += row["total"] or ZERO
        self.best = row["best"] if self.best is None else max(self.best, row["best"])
        self.worst = row["worst"] if self.worst is None else min(self.worst, row["worst"])


@dataclass
class TradeStats:
    """Fills of a group: volume, count and fees valued in the quote asset."""

    quote: str
    trade_count: int = 0
    volume: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass(frozen=True)
class QuoteFigures:
    """The headline figures of one quote asset over a period."""

    quote: str
    realized_pnl: Decimal
    fees: Decimal
    volume: Decimal
    trade_count: int
    stats: PnlStats
    median: Decimal | None
    max_drawdown_over_days: Decimal


@dataclass(frozen=True)
class FeeRow:
    """Fees paid in one asset on one quote's markets."""

    asset: str
    quote: str
    amount: Decimal
    value: Decimal  # in the quote asset


@dataclass(frozen=True)
class ProblemRow:
    status: str
    quote: str
    count: int
    realized_pnl: Decimal
    admin_url: str


@dataclass
class MarketRow:
    market_id: int
    market: str
    quote: str
    stats: PnlStats
    trades: TradeStats
    admin_url: str = ""


@dataclass
class PairRow:
    buy_exchange: str
    sell_exchange: str
    quote: str
    stats: PnlStats
    admin_url: str = ""


@dataclass(frozen=True)
class Conversion:
    """A USDT-IRR rate recorded by this system's own fills."""

    rate: Decimal
    fills: int
    source: str


@dataclass
class Overview:
    period: Period
    quotes: list[QuoteFigures]
    fees_by_asset: list[FeeRow]
    problems: list[ProblemRow]
    days: list[DayRow]
    markets: list[MarketRow]
    trade_count: int
    conversion: Conversion | None = None
    combined_pnl_irr: Decimal | None = None
    notes: list[str] = field(default_factory=list)


