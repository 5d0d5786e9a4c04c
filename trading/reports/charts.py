"""Small server-side SVG charts: no JavaScript, no CDN, no float.

Coordinates are Decimals scaled to the drawing area and rounded to one
decimal place before they become text; the figures themselves stay Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from arbsite import formatting

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 96, 12, 24, 36
POSITIVE, NEGATIVE, LINE, AXIS = "#2e7d32", "#c62828", "#1565c0", "#888"
ZERO = Decimal("0")
TENTH = Decimal("0.1")

Point = tuple[str, Decimal]  # (label, value)


def _c(value: Decimal) -> str:
    """A coordinate as SVG text."""
    return f"{value.quantize(TENTH, rounding=ROUND_HALF_EVEN):f}"


def _label(value: Decimal, places: int) -> str:
    return formatting.number(value, places)


class _Scale:
    """Maps values onto the vertical drawing area; zero is always shown."""

    def __init__(self, values: Sequence[Decimal]) -> None:
        self.low = min([ZERO, *values])
        self.high = max([ZERO, *values])
        if self.high == self.low:
            self.high = self.low + 1
        self.top, self.bottom = Decimal(TOP), Decimal(HEIGHT - BOTTOM)

    def y(self, value: Decimal) -> Decimal:
        span = self.high - self.low
        return self.bottom - (value - self.low) * (self.bottom - self.top) / span


def _frame(title: str, scale: _Scale, places: int, body: list[str], labels: list[str]) -> str:
    zero = scale.y(ZERO)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f'<title>{escape(title)}</title>',
        f'<text x="{LEFT}" y="14" class="chart-title">{escape(title)}</text>',
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_c(zero)}" y2="{_c(zero)}" '
        f'stroke="{AXIS}" stroke-width="1"/>',
        f'<text x="{LEFT - 6}" y="{_c(scale.y(scale.high) + 4)}" text-anchor="end">'
        f'{_label(scale.high, places)}</text>',
        f'<text x="{LEFT - 6}" y="{_c(scale.y(scale.low) + 4)}" text-anchor="end">'
        f'{_label(scale.low, places)}</text>',
    ]
    if scale.low < 0 < scale.high:
        parts.append(f'<text x="{LEFT - 6}" y="{_c(zero + 4)}" text-anchor="end">0</text>')
    parts += body + labels + ["</svg>"]
    return "".join(parts)


def _x_labels(points: Sequence[Point], xs: list[Decimal]) -> list[str]:
    """The first, middle and last label under the axis (all when few)."""
    if not points:
        return []
    picks = range(len(points)) if len(points) <= 8 else sorted(
        {0, len(points) // 2, len(points) - 1})
    y = HEIGHT - BOTTOM + 16
    last = len(points) - 1

    def anchor(i: int) -> str:
        if len(points) > 8 and i in (0, last):
            return "start" if i == 0 else "end"
        return "middle"

    return [f'<text x="{_c(xs[i])}" y="{y}" text-anchor="{anchor(i)}">'
            f'{escape(points[i][0])}</text>' for i in picks]


def _empty(title: str) -> SafeString:
    return mark_safe(  # noqa: S308 - built from escaped text only
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 60" class="chart" '
        f'role="img" aria-label="{escape(title)}"><text x="{LEFT}" y="14" class="chart-title">'
        f'{escape(title)}</text><text x="{LEFT}" y="40">No data in this period.</text></svg>'
    )


def line_chart(title: str, points: Sequence[Point], *, places: int = 0) -> SafeString:
    """A line through the points (e.g. cumulative P&L by day)."""
    if not points:
        return _empty(title)
    scale = _Scale([v for _, v in points])
    inner = Decimal(WIDTH - LEFT - RIGHT)
    steps = max(len(points) - 1, 1)
    xs = [Decimal(LEFT) + inner * i / steps for i in range(len(points))]
    path = " ".join(f"{'M' if i == 0 else 'L'}{_c(x)},{_c(scale.y(v))}"
                    for i, (x, (_, v)) in enumerate(zip(xs, points, strict=True)))
    body = [f'<path d="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>']
    if len(points) <= 60:
        body += [f'<circle cx="{_c(x)}" cy="{_c(scale.y(v))}" r="2.5" fill="{LINE}">'
                 f'<title>{escape(label)}: {_label(v, places)}</title></circle>'
                 for x, (label, v) in zip(xs, points, strict=True)]
    return mark_safe(_frame(title, scale, places, body, _x_labels(points, xs)))  # noqa: S308


def bar_chart(title: str, points: Sequence[Point], *, places: int = 0) -> SafeString:
    """One bar per point, green above zero and red below (daily P&L, fees,
    P&L by market)."""
    if not points:
        return _empty(title)
    scale = _Scale([v for _, v in points])
    inner = Decimal(WIDTH - LEFT - RIGHT)
    slot = inner / len(points)
    width = max(slot * Decimal("0.8"), Decimal("0.5"))
    zero = scale.y(ZERO)
    body, xs = [], []
    for i, (label, value) in enumerate(points):
        x = Decimal(LEFT) + slot * i + (slot - width) / 2
        xs.append(x + width / 2)
        y = scale.y(value)
        top, height = (y, zero - y) if value >= 0 else (zero, y - zero)
        body.append(
            f'<rect x="{_c(x)}" y="{_c(top)}" width="{_c(width)}" height="{_c(height)}" '
            f'fill="{POSITIVE if value >= 0 else NEGATIVE}"><title>{escape(label)}: '
            f'{_label(value, places)}</title></rect>'
        )
    return mark_safe(_frame(title, scale, places, body, _x_labels(points, xs)))  # noqa: S308


def overview_charts(days: Sequence, markets: Sequence, quotes: Sequence[str]) -> list[SafeString]:
    """The overview's charts for each quote asset that has any activity:
    cumulative P&L, daily P&L, P&L by market and fees by day."""
    charts = []
    for quote in quotes:
        daily = [(d.day.isoformat(), d.pnl(quote)) for d in days]
        fees = [(d.day.isoformat(), d.fees(quote)) for d in days]
        by_market = [(m.market, m.stats.realized_pnl) for m in markets if m.quote == quote]
        if not by_market and not any(v for _, v in daily) and not any(v for _, v in fees):
            continue
        cumulative, running = [], ZERO
        for label, value in daily:
            running += value
            cumulative.append((label, running))
        places, unit = formatting.asset_places(quote), formatting.unit(quote)
        charts += [
            line_chart(f"Cumulative realized P&L after fees ({unit})", cumulative,
                       places=places),
            bar_chart(f"Daily realized P&L after fees ({unit})", daily, places=places),
            bar_chart(f"Realized P&L after fees by market ({unit})", by_market, places=places),
            bar_chart(f"Fees by day, valued in {unit}", fees, places=places),
        ]
    return charts
