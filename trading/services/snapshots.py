"""DailyRiskSnapshot: the figures of a trading day, recomputed from the
database (never accumulated in memory), refreshed every minute and closed
once the day is over in TRADING_DAY_TZ."""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from exchanges.models import Exchange, Market
from trading.models import DailyRiskSnapshot, Opportunity, Trade
from trading.pnl import QUOTE_ASSETS, base_fee_times_price, fees_in_quote, max_drawdown_intraday
from trading.reports.rollups import report_rollup_write
from trading.services.balances import balances_latest
from trading.services.risk import exposure_open, risk_settings
from trading.tradingday import trading_day, trading_day_bounds, trading_tz

logger = logging.getLogger(__name__)

ZERO = Decimal("0")


def day_figures(day: date) -> dict:
    start, end = trading_day_bounds(day)
    figures: dict = {"trade_count": 0}
    closed = Opportunity.objects.filter(closed_at__gte=start, closed_at__lt=end,
                                        realized_pnl__isnull=False)
    base_fees = base_fee_times_price(Market.objects.all())
    for quote in QUOTE_ASSETS:
        suffix = quote.lower()
        mine = closed.filter(quote_asset=quote)
        figures[f"realized_pnl_{suffix}"] = (
            mine.aggregate(total=Sum("realized_pnl"))["total"] or ZERO
        )
        pnls = list(mine.order_by("closed_at", "pk").values_list("realized_pnl", flat=True))
        figures[f"max_drawdown_{suffix}"] = max_drawdown_intraday(pnls)
        trades = Trade.objects.filter(executed_at__gte=start, executed_at__lt=end,
                                      market__quote=quote)
        # Fees valued in the quote as trading.pnl says (settlement's rule).
        agg = trades.aggregate(
            volume=Sum("quote_amount"),
            fees_quote=Sum("fee", filter=fees_in_quote(quote)),
            fees_base=Sum(base_fees),
            count=Count("id"),
        )
        figures[f"volume_{suffix}"] = agg["volume"] or ZERO
        figures[f"fees_{suffix}"] = (agg["fees_quote"] or ZERO) + (agg["fees_base"] or ZERO)
        figures["trade_count"] += agg["count"] or 0
    figures["round_trips"] = closed.exclude(status=Opportunity.Status.FAILED).count()
    return figures


def snapshot_refresh(*, at: datetime | None = None) -> DailyRiskSnapshot:
    """Recompute today's snapshot and close any earlier day left open."""
    now = at or timezone.now()
    today = trading_day(now)
    for old in DailyRiskSnapshot.objects.filter(day__lt=today, closed=False):
        # The closed figures and the report rollup together, once: the
        # conditional update lets only one of two concurrent refreshes close it.
        with transaction.atomic():
            if DailyRiskSnapshot.objects.filter(pk=old.pk, closed=False).update(
                    closed=True, **day_figures(old.day)):
                report_rollup_write(day=old.day)
        logger.info("risk snapshot of %s closed", old.day)
    row = risk_settings()
    names = list(Exchange.objects.filter(enabled=True).values_list("name", flat=True))
    balances = {
        name: {asset: str(b.total) for asset, b in cached.balances.items()}
        for name, cached in balances_latest(names).items()
    }
    limits = {
        "max_daily_loss_irr": str(row.max_daily_loss_irr),
        "max_daily_loss_usdt": str(row.max_daily_loss_usdt),
        "max_order_value_irr": str(row.max_order_value_irr),
        "max_order_value_usdt": str(row.max_order_value_usdt),
        "max_exposure": row.max_exposure,
    }
    figures = day_figures(today)
    breaches = []
    for quote, limit in (("irr", row.max_daily_loss_irr), ("usdt", row.max_daily_loss_usdt)):
        if figures[f"realized_pnl_{quote}"] <= -limit:
            breaches.append(f"daily loss {quote.upper()}: {figures[f'realized_pnl_{quote}']}")
    snapshot, _ = DailyRiskSnapshot.objects.update_or_create(
        day=today,
        defaults={
            **figures,
            "timezone": str(trading_tz()),
            "exposure": {asset: str(v) for asset, v in exposure_open().items()},
            "balances": balances,
            "limits": limits,
            "breaches": breaches,
            "kill_switch_active": row.kill_switch,
        },
    )
    return snapshot
