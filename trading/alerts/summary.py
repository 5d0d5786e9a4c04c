"""The daily summary, sent once at the close of each trading day
(midnight in TRADING_DAY_TZ, Asia/Tehran by default): P&L, round trips,
fees, unwinds, balances per exchange and the alerts still open.

The first check after midnight writes it; a unique key per day keeps it to
one message however many workers run the check. A day the system did not
run (no risk snapshot) gets none.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from trading.alerts.kinds import MessageKind, Severity
from trading.alerts.models import ACTIVE_STATES, Alert, AlertMessage
from trading.pnl import QUOTE_ASSETS

logger = logging.getLogger(__name__)

def _n(value: Decimal) -> str:
    value = value.quantize(Decimal("1")) if abs(value) >= 1000 else value.normalize()
    return f"{value:,f}"


def daily_summary_content(day: date) -> tuple[str, str, dict[str, Any]]:
    """(title, text, payload) of the summary of ``day``."""
    from trading.models import Opportunity
    from trading.services.budgets import exchange_capital
    from trading.services.snapshots import day_figures
    from trading.tradingday import trading_day_bounds, trading_tz

    figures = day_figures(day)
    start, end = trading_day_bounds(day)
    unwound = Opportunity.objects.filter(closed_at__gte=start, closed_at__lt=end,
                                         status=Opportunity.Status.UNWOUND)
    unwinds = {row["quote_asset"]: row for row in unwound.values("quote_asset")
               .annotate(pnl=Sum("realized_pnl"))}
    unwind_count = unwound.count()
    capital = exchange_capital()
    alerts = list(Alert.objects.filter(state__in=ACTIVE_STATES).order_by("-severity",
                                                                          "first_seen_at")[:20])
    title = f"Daily summary {day:%Y-%m-%d} ({trading_tz()})"
    lines = [title]
    for quote in QUOTE_ASSETS:
        s = quote.lower()
        lines.append(f"P&L {quote}: {_n(figures[f'realized_pnl_{s}'])} · fees "
                     f"{_n(figures[f'fees_{s}'])} · volume {_n(figures[f'volume_{s}'])}")
    lines.append(f"Round trips: {figures['round_trips']} · fills: {figures['trade_count']} · "
                 f"unwinds: {unwind_count}"
                 + "".join(f" ({_n(row['pnl'] or Decimal(0))} {q})" for q, row in unwinds.items()))
    lines.append("Balances (rial at the latest prices):")
    for c in capital:
        held = _n(c.held_irr) if c.held_irr is not None else "unknown"
        flags = (" DOWN: at risk" if c.down else "") + (" over budget" if c.over_value else "")
        lines.append(f"  {c.exchange}: {held} IRR{flags}")
    lines.append(f"Open alerts: {len(alerts)}" + (":" if alerts else ""))
    lines += [f"  [{a.severity}] {a.title} (×{a.count})" for a in alerts]
    payload = {
        "summary": {
            "day": day.isoformat(),
            "timezone": str(trading_tz()),
            **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in figures.items()},
            "unwinds": unwind_count,
            "unwind_pnl": {q: str(row["pnl"] or 0) for q, row in unwinds.items()},
            "balances_irr": {c.exchange: str(c.held_irr) if c.held_irr is not None else None
                             for c in capital},
            "assets": {c.exchange: {a: str(v) for a, v in c.assets.items()} for c in capital},
            "open_alerts": [{"id": a.pk, "kind": a.kind, "severity": a.severity,
                             "title": a.title, "count": a.count} for a in alerts],
        },
    }
    return title, "\n".join(lines), payload


def daily_summary_write(*, day: date, now: datetime | None = None) -> AlertMessage | None:
    """Write the summary of ``day`` once; None if it was already written."""
    from trading.alerts.services import message_write

    key = f"summary:{day.isoformat()}"
    if AlertMessage.objects.filter(dedupe_key=key).exists():
        return None
    title, text, payload = daily_summary_content(day)
    try:
        with transaction.atomic():
            message = message_write(kind=MessageKind.SUMMARY, severity=Severity.INFO,
                                    title=title, text=text, payload=payload, now=now,
                                    every_channel=True, dedupe_key=key)
    except IntegrityError:
        return None  # another worker wrote it first
    logger.info("daily summary of %s written", day)
    return message


def daily_summary_due(*, now: datetime | None = None) -> AlertMessage | None:
    """The check: once the trading day has closed, its summary."""
    from trading.models import DailyRiskSnapshot
    from trading.tradingday import trading_day

    now = now or timezone.now()
    day = trading_day(now) - timedelta(days=1)
    if not DailyRiskSnapshot.objects.filter(day=day).exists():
        return None
    return daily_summary_write(day=day, now=now)
