"""The report tables as rows of cells: one definition for the page and the
CSV export, so both show the same figures (the page only adds thousands
separators). Rounding and units are ``arbsite.formatting``'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse

from arbsite import formatting
from trading.pnl import QUOTE_ASSETS
from trading.reports.periods import Period
from trading.reports.shapes import (
    DayRow,
    FeeRow,
    MarketRow,
    Overview,
    PairRow,
    PnlStats,
    ProblemRow,
    QuoteFigures,
)
from trading.tradingday import trading_day_bounds


def money(value: Decimal | None, asset: str) -> str:
    """A money figure rounded for reading, as plain text (no separators, no
    unit: the column says it), the same in the page and the CSV."""
    return formatting.plain(value, asset)


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value.quantize(Decimal('0.01')):f}"


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    url: str = ""

    @property
    def display(self) -> str:
        """The text with thousands separators, for the page."""
        if not self.numeric or not self.text:
            return self.text
        return formatting.number(Decimal(self.text), _places(self.text))

    @property
    def negative(self) -> bool:
        return self.numeric and self.text.startswith("-")


def _places(text: str) -> int:
    return len(text.partition(".")[2])


def num(text: str | int, url: str = "") -> Cell:
    return Cell(str(text), numeric=True, url=url)


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    footer: list[Cell] | None = None
    note: str = ""
    csv_url: str = ""

    def csv_rows(self) -> list[list[str]]:
        rows = [self.columns] + [[c.text for c in row] for row in self.rows]
        if self.footer:
            rows.append([c.text for c in self.footer])
        return rows


def _admin_day_url(day: date) -> str:
    start, end = trading_day_bounds(day)
    query = urlencode({"closed_at__gte": start.isoformat(), "closed_at__lt": end.isoformat()})
    return f"{reverse('admin:trading_opportunity_changelist')}?{query}"


def days_table(days: list[DayRow]) -> Table:
    """Newest day first; a total row at the foot."""
    columns = ["Day", "Source"]
    for quote in QUOTE_ASSETS:
        unit = formatting.unit(quote)
        columns += [f"Realized P&L {unit} (after fees)", f"Fees {unit}", f"Volume {unit}"]
    columns += ["Trades", "Round trips"]
    table = Table("days", "P&L by day", columns,
                  note="Closed days from their risk snapshot; the others live from fills.")
    totals: dict[str, Decimal] = {}
    for row in reversed(days):
        cells = [Cell(row.day.isoformat(), url=_admin_day_url(row.day)), Cell(row.source)]
        for quote in QUOTE_ASSETS:
            for name, value in (("pnl", row.pnl(quote)), ("fees", row.fees(quote)),
                                ("volume", row.volume(quote))):
                totals[f"{name}{quote}"] = totals.get(f"{name}{quote}", Decimal(0)) + value
                cells.append(num(money(value, quote)))
        cells += [num(row.trade_count), num(row.round_trips)]
        table.rows.append(cells)
    footer = [Cell("Total"), Cell("")]
    for quote in QUOTE_ASSETS:
        footer += [num(money(totals.get(f"{n}{quote}", Decimal(0)), quote))
                   for n in ("pnl", "fees", "volume")]
    footer += [num(sum(d.trade_count for d in days)), num(sum(d.round_trips for d in days))]
    table.footer = footer
    return table


def _stats_cells(stats: PnlStats) -> list[Cell]:
    q = stats.quote
    return [num(stats.round_trips), num(stats.wins), num(percent(stats.win_rate)),
            num(money(stats.realized_pnl, q)), num(money(stats.average, q)),
            num(money(stats.best, q)), num(money(stats.worst, q)), num(stats.problems),
            num(money(stats.problems_pnl, q))]


STATS_COLUMNS = ["Round trips", "Wins", "Win rate %", "Realized P&L (after fees)", "Average",
                 "Best", "Worst", "Partial/unwound/failed", "Their P&L (after fees)"]


def markets_table(rows: list[MarketRow]) -> Table:
    table = Table("markets", "P&L by market", ["Market", "Quote", *STATS_COLUMNS,
                                              "Trades", "Volume", "Fees"],
                  note="Figures in each market's quote asset (rial for IRR); realized P&L is "
                       "after both legs' fees; fees include base-asset fees valued at each "
                       "fill's price.")
    for row in rows:
        table.rows.append([
            Cell(row.market, url=row.admin_url), Cell(row.quote), *_stats_cells(row.stats),
            num(row.trades.trade_count), num(money(row.trades.volume, row.quote)),
            num(money(row.trades.fees, row.quote)),
        ])
    return table


def pairs_table(rows: list[PairRow]) -> Table:
    table = Table("pairs", "P&L by exchange pair and direction",
                  ["Bought on", "Sold on", "Quote", *STATS_COLUMNS])
    for row in rows:
        table.rows.append([Cell(row.buy_exchange, url=row.admin_url), Cell(row.sell_exchange),
                           Cell(row.quote), *_stats_cells(row.stats)])
    return table


def summary_table(quotes: list[QuoteFigures]) -> Table:
    """The headline figures, one column per quote asset."""
    table = Table("summary", "Summary", ["Figure", *[formatting.unit(q.quote) for q in quotes]],
                  note="Rial and USDT results are kept apart. Realized P&L is after fees. "
                       "Closed days are read from their daily rollup, the others live from "
                       "fills; the median is exact.")
    lines = [
        ("Realized P&L (after fees)", lambda f: money(f.realized_pnl, f.quote)),
        ("Fees (valued in quote)", lambda f: money(f.fees, f.quote)),
        ("Traded volume", lambda f: money(f.volume, f.quote)),
        ("Trades", lambda f: str(f.trade_count)),
        ("Round trips", lambda f: str(f.stats.round_trips)),
        ("Win rate %", lambda f: percent(f.stats.win_rate)),
        ("Average per round trip", lambda f: money(f.stats.average, f.quote)),
        ("Median per round trip", lambda f: money(f.median, f.quote)),
        ("Best round trip", lambda f: money(f.stats.best, f.quote)),
        ("Worst round trip", lambda f: money(f.stats.worst, f.quote)),
        ("Max drawdown (daily)", lambda f: money(f.max_drawdown_over_days, f.quote)),
        ("Partial/unwound/failed", lambda f: str(f.stats.problems)),
        ("Their realized P&L (after fees)", lambda f: money(f.stats.problems_pnl, f.quote)),
    ]
    for label, get in lines:
        table.rows.append([Cell(label), *[num(get(f)) for f in quotes]])
    return table


def fees_table(rows: list[FeeRow]) -> Table:
    table = Table("fees", "Fees per asset", ["Paid in", "On markets quoted in", "Amount",
                                            "Value in quote"],
                  note="Base-asset fees are valued at each fill's price.")
    for row in rows:
        table.rows.append([Cell(row.asset), Cell(row.quote), num(money(row.amount, row.asset)),
                           num(money(row.value, row.quote))])
    return table


def problems_table(rows: list[ProblemRow]) -> Table:
    table = Table("problems", "Partial, unwound and failed opportunities",
                  ["Status", "Quote", "Count", "Realized P&L (after fees)"],
                  note="What they cost: their realized P&L, fees included.")
    for row in rows:
        table.rows.append([Cell(row.status, url=row.admin_url), Cell(row.quote),
                           num(row.count), num(money(row.realized_pnl, row.quote))])
    return table


def csv_url(key: str, period: Period) -> str:
    return f"{reverse('reports:csv', args=[key])}?{urlencode(period.query())}"


TABLES = ("summary", "days", "markets", "pairs", "fees", "problems")


def report_table(key: str, period: Period) -> Table:
    """One report table by its key (for the table pages and the CSV export)."""
    from trading.reports import selectors

    if key == "days":
        return days_table(selectors.pnl_by_day(period))
    if key == "markets":
        return markets_table(selectors.pnl_by_market(period))
    if key == "pairs":
        return pairs_table(selectors.pnl_by_pair(period))
    if key in ("summary", "fees", "problems"):
        data = selectors.overview(period)
        if key == "summary":
            return summary_table(data.quotes)
        if key == "fees":
            return fees_table(data.fees_by_asset)
        return problems_table(data.problems)
    raise KeyError(key)


def headline_cards(data: Overview) -> list[tuple[str, Cell]]:
    """The figures shown large at the top of the overview."""
    cards = []
    for f in data.quotes:
        unit = formatting.unit(f.quote)
        cards += [(f"Realized P&L after fees ({unit})", num(money(f.realized_pnl, f.quote))),
                  (f"Fees ({unit})", num(money(f.fees, f.quote))),
                  (f"Win rate ({f.quote}) %", num(percent(f.stats.win_rate)))]
    cards.append(("Trades", num(data.trade_count)))
    if data.conversion is not None and data.combined_pnl_irr is not None:
        cards.append(("Combined realized P&L after fees (rial)",
                      num(money(data.combined_pnl_irr, "IRR"))))
    return cards


def with_csv(table: Table, period: Period) -> Table:
    table.csv_url = csv_url(table.key, period)
    return table
