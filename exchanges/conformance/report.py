"""What a conformance check found: one row per point, and the whole run.

A point is either a wire variant (``exchanges.variants``: one of the
readings the docs leave open) or a fact the adapters rely on (an unknown
order is answered "not found", the rules endpoint lists every market …).
Each row says what arbsite assumes, what the exchange answered, and a
verdict:

- ``pass``: the exchange does what is assumed;
- ``FAIL``: it does not (without ``--apply``, a variant it speaks other than
  the one configured is a failure too);
- ``applied``: it speaks another documented reading, now stored (``--apply``);
- ``open``: not settled by this run, and trading depends on it (a test
  order would settle it);
- ``either``: not settled, but the adapter reads every reading;
- ``unseen``: a documented fact this run had nothing to look at (no order
  in the account to read); not counted against the check;
- ``error``: the exchange could not be asked (timeout, 5xx …).

The run passes when no row is ``FAIL``, ``error`` or ``open``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "FAIL"
    APPLIED = "applied"
    OPEN = "open"
    EITHER = "either"
    UNSEEN = "unseen"
    ERROR = "error"


FAILING = frozenset({Verdict.FAIL, Verdict.OPEN, Verdict.ERROR})


@dataclass
class PointResult:
    point: str
    assumed: str
    answered: str
    verdict: Verdict
    variant: str | None = None  # the wire variant this point settles
    value: str | None = None  # its observed value

    def as_json(self) -> dict:
        data = asdict(self)
        data["verdict"] = str(self.verdict)
        return data


@dataclass
class TestOrder:
    """The one order a check may place, as far as it is known."""

    market: str
    side: str
    quantity: str
    price: str
    client_order_id: str
    exchange_order_id: str | None = None
    sent: bool = False  # a place request left (it may exist)
    closed: bool = False  # seen final (cancelled, or refused: never placed)

    def ids(self) -> str:
        return (f"client order id {self.client_order_id}, exchange order id "
                f"{self.exchange_order_id or 'unknown'}")


@dataclass
class ConformanceReport:
    exchange: str
    base_url: str
    started_at: datetime
    finished_at: datetime | None = None
    rows: list[PointResult] = field(default_factory=list)
    observed: dict[str, str] = field(default_factory=dict)  # variant -> value
    configured: dict[str, str] = field(default_factory=dict)  # variants in force before
    test_order: TestOrder | None = None
    left_open: bool = False  # the test order could not be confirmed cancelled
    applied: bool = False

    def add(self, row: PointResult) -> PointResult:
        """Add ``row``; a variant settled later replaces the rows that left it
        unsettled, and a variant already settled is not unsettled again."""
        if row.variant:
            if row.value is None and row.variant in self.observed:
                return row
            if row.value is not None:
                self.rows = [r for r in self.rows
                             if not (r.variant == row.variant and r.value is None)]
                self.observed[row.variant] = row.value
        elif row.verdict is not Verdict.UNSEEN:  # seen at last
            self.rows = [r for r in self.rows
                         if not (r.point == row.point and r.verdict is Verdict.UNSEEN)]
        elif any(r.point == row.point for r in self.rows):
            return row
        self.rows.append(row)
        return row

    @property
    def failed(self) -> list[PointResult]:
        return [row for row in self.rows if row.verdict in FAILING]

    @property
    def passed(self) -> bool:
        return not self.failed and not self.left_open

    def failed_summary(self) -> str:
        lines = [f"{row.point}: {row.answered}" for row in self.failed]
        if self.left_open and self.test_order is not None:
            lines.insert(0, f"test order left open: {self.test_order.ids()}")
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {
            "exchange": self.exchange, "base_url": self.base_url,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "passed": self.passed, "applied": self.applied,
            "observed_variants": dict(self.observed), "configured_variants": self.configured,
            "test_order": asdict(self.test_order) if self.test_order else None,
            "test_order_left_open": self.left_open,
            "points": [row.as_json() for row in self.rows],
        }


WIDTHS = (30, 44, 56, 7)


def render_table(report: ConformanceReport) -> str:
    """The report as a plain-text table an operator reads in a terminal."""
    import textwrap

    header = ("point", "what we assume", "what the exchange answered", "verdict")
    lines = []

    def emit(cells: tuple[str, ...]) -> None:
        wrapped = [textwrap.wrap(cell, width) or [""] for cell, width in zip(cells, WIDTHS,
                                                                              strict=True)]
        for i in range(max(len(w) for w in wrapped)):
            lines.append(" | ".join((w[i] if i < len(w) else "").ljust(width)
                                    for w, width in zip(wrapped, WIDTHS, strict=True)).rstrip())

    emit(header)
    lines.append("-+-".join("-" * width for width in WIDTHS))
    for row in report.rows:
        emit((row.point, row.assumed, row.answered, str(row.verdict)))
    verdict = "PASSED" if report.passed else "FAILED"
    lines.append("")
    lines.append(f"{report.exchange} at {report.base_url}: conformance {verdict}"
                 + (" (observed variants stored)" if report.applied and report.observed
                    else ""))
    if report.observed:
        lines.append("observed: " + ", ".join(f"{k}={v}" for k, v in sorted(
            report.observed.items())))
    return "\n".join(lines)
