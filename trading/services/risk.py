"""Risk: the limits read on every decision, today's figures from the
database (so a restart resets nothing), and the kill switch."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Subquery, Sum
from django.utils import timezone

from arbsite.formatting import money
from arbsite.settings_schema import MAX_EXPOSURE
from exchanges.states import LIVE_STATES
from trading.alerts.hooks import daily_loss_watch, kill_switch_changed
from trading.models import Opportunity, Order, RiskSettings
from trading.pnl import QUOTE_ASSETS
from trading.services.legs import legs_resting_cancel
from trading.services.opportunities import IN_FLIGHT
from trading.tradingday import trading_day, trading_day_bounds

logger = logging.getLogger(__name__)

ZERO = Decimal("0")


def risk_settings() -> RiskSettings:
    """The one row, read fresh: an operator's change applies to the next decision."""
    return RiskSettings.load()


@dataclass(frozen=True)
class RiskCheck:
    """One decision's risk read: the settings row, today's realized P&L by
    quote asset, today's gross unwind losses by quote asset, and why trading
    is blocked in each blocked quote asset."""

    settings: RiskSettings
    pnl_today: dict[str, Decimal]
    blocked: dict[str, str]
    unwind_losses_today: dict[str, Decimal] = field(default_factory=dict)


def risk_check(*, quote_assets: Iterable[str], at: datetime | None = None) -> RiskCheck:
    """What detection and execution read before each decision: the risk
    settings, today's P&L and today's unwind losses in one query
    (``risk_read``), and what blocks trading in these quote assets
    (``trading_blockers``)."""
    quotes = sorted(set(quote_assets))
    settings_row, pnl, losses = _risk_read(quote_assets=quotes, at=at)
    return RiskCheck(settings_row, pnl, trading_blockers(quote_assets=quotes,
                                                         settings_row=settings_row, pnl=pnl,
                                                         unwind_losses=losses), losses)


def risk_read(*, quote_assets: Iterable[str], at: datetime | None = None
              ) -> tuple[RiskSettings, dict[str, Decimal]]:
    """A decision's whole risk read, fresh from the database in one query:
    the risk settings row and today's realized P&L of these quote assets
    (those with none closed today are absent), as ``risk_settings()`` and
    ``realized_pnl_today()`` would give them."""
    row, pnl, _ = _risk_read(quote_assets=quote_assets, at=at)
    return row, pnl


def _unwound_losing(closed_today):
    return closed_today.filter(status=Opportunity.Status.UNWOUND, realized_pnl__lt=0)


def _risk_read(*, quote_assets: Iterable[str], at: datetime | None = None
               ) -> tuple[RiskSettings, dict[str, Decimal], dict[str, Decimal]]:
    """``risk_read`` and today's gross unwind losses (``unwind_losses_today``),
    in the same one query."""
    quotes = sorted(set(quote_assets))
    start, end = trading_day_bounds(trading_day(at))
    closed_today = Opportunity.objects.filter(closed_at__gte=start, closed_at__lt=end,
                                              realized_pnl__isnull=False)

    def total(rows):
        return rows.values("quote_asset").annotate(total=Sum("realized_pnl")).values("total")

    annotations = {}
    for i, quote in enumerate(quotes):
        annotations[f"pnl_today_{i}"] = Subquery(total(closed_today.filter(quote_asset=quote)))
        annotations[f"unwind_loss_{i}"] = Subquery(total(
            _unwound_losing(closed_today).filter(quote_asset=quote)))
    row = (RiskSettings.objects.filter(id=RiskSettings.SINGLETON_ID)
           .annotate(**annotations).first())
    if row is None:  # not created yet: load() creates it
        pnl = realized_pnl_today(at)
        losses = unwind_losses_today(at)
        return (risk_settings(), {quote: pnl[quote] for quote in quotes if quote in pnl},
                {quote: losses[quote] for quote in quotes if quote in losses})
    totals = {quote: getattr(row, f"pnl_today_{i}") for i, quote in enumerate(quotes)}
    losses = {quote: -getattr(row, f"unwind_loss_{i}") for i, quote in enumerate(quotes)
              if getattr(row, f"unwind_loss_{i}") is not None}
    return (row, {quote: total for quote, total in totals.items() if total is not None},
            losses)


def realized_pnl_today(at: datetime | None = None) -> dict[str, Decimal]:
    """Realized P&L of the opportunities closed today, per quote asset."""
    start, end = trading_day_bounds(trading_day(at))
    rows = (
        Opportunity.objects.filter(closed_at__gte=start, closed_at__lt=end,
                                   realized_pnl__isnull=False)
        .values("quote_asset")
        .annotate(total=Sum("realized_pnl"))
    )
    return {row["quote_asset"]: row["total"] or ZERO for row in rows}


def unwind_losses_today(at: datetime | None = None) -> dict[str, Decimal]:
    """Today's gross unwind losses per quote asset, as a positive amount:
    the losses of the opportunities closed ``unwound`` today, never netted
    against any profit (a day in net profit can still reach its limit)."""
    start, end = trading_day_bounds(trading_day(at))
    closed_today = Opportunity.objects.filter(closed_at__gte=start, closed_at__lt=end,
                                              realized_pnl__isnull=False)
    rows = (_unwound_losing(closed_today).values("quote_asset")
            .annotate(total=Sum("realized_pnl")))
    return {row["quote_asset"]: -(row["total"] or ZERO) for row in rows}


def daily_unwind_loss_limit(settings_row: RiskSettings, quote_asset: str) -> Decimal | None:
    if quote_asset == "IRR":
        return settings_row.max_daily_unwind_loss_irr
    if quote_asset == "USDT":
        return settings_row.max_daily_unwind_loss_usdt
    return None


def daily_loss_limit(settings_row: RiskSettings, quote_asset: str) -> Decimal | None:
    if quote_asset == "IRR":
        return settings_row.max_daily_loss_irr
    if quote_asset == "USDT":
        return settings_row.max_daily_loss_usdt
    return None


def exposure_open(*, in_flight: Iterable[tuple[str, Decimal]] | None = None
                  ) -> dict[str, Decimal]:
    """Base amount at risk per asset: what in-flight opportunities plan to
    trade, plus what live unwind orders still have to trade.

    ``in_flight``: the (base asset, quantity) of every in-flight opportunity
    when the caller has just read them (detection does, for its in-flight
    pairs), so they are not read twice."""
    exposure: dict[str, Decimal] = defaultdict(lambda: ZERO)
    if in_flight is None:
        in_flight = [(row["market__base"], row["total"])
                     for row in (Opportunity.objects.filter(status__in=IN_FLIGHT)
                                 .values("market__base").annotate(total=Sum("quantity")))]
    for base, quantity in in_flight:
        exposure[base] += quantity or ZERO
    for row in (Order.objects.filter(purpose=Order.Purpose.UNWIND, status__in=LIVE_STATES)
                .values("market__base").annotate(total=Sum("quantity"))):
        exposure[row["market__base"]] += row["total"] or ZERO
    return dict(exposure)


def exposure_limit(settings_row: RiskSettings, asset: str) -> Decimal | None:
    """The open-exposure limit of ``asset`` (None: no limit). Raises
    ``arbsite.settings_schema.SettingError`` when the stored map, or this
    asset's entry, does not have its schema's shape (a row written before
    the admin checked it): the caller decides what that asset's markets do."""
    return MAX_EXPOSURE.amount(settings_row.max_exposure, asset.upper())


def max_order_value(settings_row: RiskSettings, quote_asset: str) -> Decimal | None:
    if quote_asset == "IRR":
        return settings_row.max_order_value_irr
    if quote_asset == "USDT":
        return settings_row.max_order_value_usdt
    return None


def min_profit_abs(settings_row: RiskSettings, quote_asset: str) -> Decimal:
    if quote_asset == "IRR":
        return settings_row.min_profit_irr
    if quote_asset == "USDT":
        return settings_row.min_profit_usdt
    return ZERO


def trading_blockers(*, quote_assets: Iterable[str], settings_row: RiskSettings,
                     pnl: Mapping[str, Decimal] | None = None,
                     unwind_losses: Mapping[str, Decimal] | None = None,
                     at: datetime | None = None) -> dict[str, str]:
    """Why no new order may be sent now in each of these quote assets:
    quote asset → why, for those blocked (kill switch, daily loss limit,
    daily unwind loss limit). ``settings_row``, ``pnl`` (today's realized
    P&L by quote asset) and ``unwind_losses`` as this decision has just read
    them (``risk_read``); they are read here when not given."""
    quote_assets = list(quote_assets)
    if not quote_assets:
        return {}
    if settings_row.kill_switch:
        why = f"kill switch on: {settings_row.kill_switch_reason or 'no reason given'}"
        return dict.fromkeys(quote_assets, why)
    if pnl is None:
        pnl = realized_pnl_today(at)
    if unwind_losses is None:
        unwind_losses = unwind_losses_today(at)
    blocked: dict[str, str] = {}
    for asset in quote_assets:
        if asset in pnl and (why := _loss_blocker(settings_row, asset, pnl[asset])):
            blocked[asset] = why
        elif asset in unwind_losses and (
                why := _unwind_blocker(settings_row, asset, unwind_losses[asset])):
            blocked[asset] = why
    return blocked


def _unwind_blocker(row: RiskSettings, asset: str, losses: Decimal) -> str | None:
    limit = daily_unwind_loss_limit(row, asset)
    if limit is not None and losses > 0 and losses >= limit:
        return (f"daily unwind loss limit reached in {asset}: unwind losses "
                f"{money(losses, asset)} today (not netted against profits), "
                f"limit {money(limit, asset)}")
    return None


def _loss_blocker(row: RiskSettings, asset: str, total: Decimal) -> str | None:
    limit = daily_loss_limit(row, asset)
    if limit is not None and total <= -limit:
        return (f"daily loss limit reached in {asset}: realized {money(total, asset)}, "
                f"limit {money(limit, asset)}")
    return None


def kill_switch_set(*, active: bool, reason: str, actor: str) -> bool:
    """Turn the kill switch on or off; returns whether it changed.

    Compare-and-set under a row lock, so two callers cannot both "trip" it
    with different reasons and lose one.
    """
    with transaction.atomic():
        RiskSettings.load()
        row = RiskSettings.objects.select_for_update().get(id=RiskSettings.SINGLETON_ID)
        if row.kill_switch == active:
            return False
        row.kill_switch = active
        row.kill_switch_reason = reason
        row.kill_switch_set_by = actor
        row.kill_switch_set_at = timezone.now()
        row.save(update_fields=["kill_switch", "kill_switch_reason", "kill_switch_set_by",
                                "kill_switch_set_at", "updated_at"])
        kill_switch_changed(active=active, reason=reason, actor=actor)
    logger.warning("kill switch %s by %s: %s", "ON" if active else "off", actor, reason)
    return True


def daily_loss_limits(settings_row: RiskSettings) -> dict[str, Decimal | None]:
    """The daily loss limit of every quote asset (None: no limit)."""
    return {quote: daily_loss_limit(settings_row, quote) for quote in QUOTE_ASSETS}


def daily_loss_warn(*, at: datetime | None = None) -> None:
    """Raise or resolve the daily-loss warning (80% of a limit by default)
    from today's figures; the periodic alert check runs it."""
    daily_loss_watch(realized=realized_pnl_today(at), limits=daily_loss_limits(risk_settings()))


def daily_loss_enforce(at: datetime | None = None) -> str | None:
    """Trip the kill switch when today's net loss, or today's gross unwind
    losses, breach their limit; return why.
    On the way, the daily-loss warning is raised or resolved."""
    row = risk_settings()
    realized = realized_pnl_today(at)
    daily_loss_watch(realized=realized, limits=daily_loss_limits(row))
    for asset, total in realized.items():
        limit = daily_loss_limit(row, asset)
        if limit is not None and total <= -limit:
            reason = (f"daily loss limit breached in {asset}: realized {money(total, asset)}, "
                      f"limit {money(limit, asset)}")
            if kill_switch_set(active=True, reason=reason, actor="risk"):
                _resting_legs_cancel(reason)
            return reason
    # Gross unwind losses, beside the net: a day in profit stops just the same.
    for asset, losses in unwind_losses_today(at).items():
        if (why := _unwind_blocker(row, asset, losses)) is not None:
            reason = why.replace("reached", "breached", 1)
            kill_switch_set(active=True, reason=reason, actor="risk")
            return reason
    return None


def _resting_legs_cancel(reason: str) -> None:
    """Tripped by the daily loss: resting entry legs are exposure too, cancelled
    at once as when an operator trips it (``legs.legs_resting_cancel``; an
    exchange error leaves a leg to the next sync, after its window)."""
    try:
        legs_resting_cancel(source="risk", why=f"kill switch tripped: {reason}")
    except Exception:
        logger.exception("kill switch tripped (%s): cancelling resting entry legs failed; "
                         "sync cancels them after their execution window", reason)
