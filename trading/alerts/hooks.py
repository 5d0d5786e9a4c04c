"""What existing causes call, one line each, in their own transaction
where the cause is a database write (the kill switch, an opportunity
closing unwound, an execution refused). Each function decides whether
there is anything to say, so the call site stays a single line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from trading.alerts.kinds import AlertKind, Severity, amount_text
from trading.alerts.services import alert_condition, alert_raise, alert_resolve

logger = logging.getLogger(__name__)

KILL_SWITCH_SUBJECT = ""


def kill_switch_changed(*, active: bool, reason: str, actor: str) -> None:
    """``risk.kill_switch_set``, inside its row-locked transaction: tripped
    raises the critical alert; reset resolves it ("resolved" message)."""
    if active:
        alert_raise(kind=AlertKind.KILL_SWITCH, subject=KILL_SWITCH_SUBJECT,
                    title=f"Kill switch tripped by {actor}",
                    message=f"No new orders anywhere. Reason: {reason}",
                    details={"actor": actor, "reason": reason})
    else:
        alert_resolve(kind=AlertKind.KILL_SWITCH, subject=KILL_SWITCH_SUBJECT, by=actor,
                      reason=f"kill switch reset: {reason}")


def daily_loss_watch(*, realized: Mapping[str, Decimal],
                     limits: Mapping[str, Decimal | None]) -> None:
    """``risk.daily_loss_enforce`` and the periodic check (``risk.daily_loss_warn``),
    with today's realized P&L and the daily loss limit of each quote asset:
    warn at the configured percent (80 by default) of the limit; resolved
    when the loss is back under it (a new trading day starts at zero). The
    figures come from the caller, so the hooks never import risk."""
    from trading.alerts.models import MonitorSettings

    pct = MonitorSettings.load().daily_loss_warn_pct
    for quote in sorted(set(realized) | set(limits)):
        total = realized.get(quote, Decimal("0"))
        limit = limits.get(quote)
        if not limit:
            continue
        used = -total / limit * 100 if total < 0 else Decimal("0")
        alert_condition(
            active=used >= pct, kind=AlertKind.DAILY_LOSS_WARNING, subject=f"quote:{quote}",
            title=f"Daily loss at {used:.0f}% of its limit in {quote}",
            message=(f"Realized today: {amount_text(total, quote)}; the limit is "
                     f"{amount_text(limit, quote)}. At 100% the kill switch trips."),
            details={"realized": str(total), "limit": str(limit), "used_pct": f"{used:.1f}"},
            resolved_reason=f"realized {amount_text(total, quote)}: under {pct}% of the limit",
            severity=Severity.CRITICAL if used >= 100 else Severity.WARNING)


def unwind_closed(*, opportunity: Any, status: str, realized_pnl: Decimal, closed: bool) -> None:
    """``settlement._close``, inside its transaction: an opportunity closed
    as unwound raises ``unwind_executed`` with its cost (the realized P&L,
    fees included) and the unwind orders' fills."""
    if not closed or status != "unwound":
        return
    from django.db.models import Sum

    from trading.models import Order

    unwinds = list(Order.objects.filter(opportunity=opportunity, purpose=Order.Purpose.UNWIND)
                   .annotate(value=Sum("trades__quote_amount"))
                   .select_related("exchange"))
    quote, base = opportunity.quote_asset, opportunity.market.base
    legs = "; ".join(
        f"{o.side} {amount_text(o.filled_quantity, base)} of "
        f"{amount_text(o.quantity, base)} on {o.exchange.name}"
        + (f" at {amount_text(o.value / o.filled_quantity, quote)}"
           if o.filled_quantity and o.value else "")
        for o in unwinds)
    alert_raise(
        kind=AlertKind.UNWIND_EXECUTED, subject=f"opportunity:{opportunity.pk}",
        market=opportunity.market, exchange=unwinds[0].exchange if unwinds else None,
        title=(f"Unwind executed: opportunity #{opportunity.pk} {opportunity.market.code} "
               f"cost {amount_text(-realized_pnl, quote)}" if realized_pnl < 0 else
               f"Unwind executed: opportunity #{opportunity.pk} {opportunity.market.code} "
               f"(net {amount_text(realized_pnl, quote, sign=True)})"),
        message=(f"One leg filled alone and was unwound: {legs}. Realized P&L of the round "
                 f"trip, fees included: {amount_text(realized_pnl, quote)}."),
        details={"opportunity": opportunity.pk, "realized_pnl": str(realized_pnl),
                 "quote": quote, "unwinds": [o.client_order_id for o in unwinds]})


def lock_taken_over(*, lock: str, previous: str, by: str, reason: str) -> None:
    """``recovery.orders_recover(force=True)``: an operator took a lock over
    from a holder believed dead; the audit record, open until acknowledged."""
    at = timezone.now().isoformat(timespec="seconds")
    alert_raise(kind=AlertKind.LOCK_TAKEN_OVER, subject=f"lock:{lock}:{at}",  # one per takeover
                title=f"Lock {lock} taken over by force by {by}",
                message=(f"{by} took the {lock} lock over from {previous}. "
                         f"Reason: {reason}"),
                details={"lock": lock, "previous_holder": previous, "by": by,
                         "reason": reason})


def recovery_finished(*, report: Any) -> None:
    """``recovery.orders_recover``, after its run: one ``recovery_incomplete``
    alert per exchange it could not recover (what went wrong, what needs a
    human); an exchange recovered completely resolves its own. Per exchange,
    so recovering one exchange never resolves another's that is still down."""
    if report.locked_out or report.dry_run:
        return
    from exchanges.models import Exchange

    rows = {e.name: e for e in Exchange.objects.filter(
        name__in=[r.exchange for r in report.exchanges]).defer("api_key", "api_secret")}
    for result in report.exchanges:
        exchange = rows.get(result.exchange)
        if exchange is None:  # a name that is no exchange: the command said so
            continue
        problem = result.skipped or "; ".join(result.errors[:3])
        alert_condition(
            active=bool(problem), kind=AlertKind.RECOVERY_INCOMPLETE,
            subject=f"exchange:{exchange.name}", exchange=exchange,
            title=f"Recovery incomplete: {exchange.name}",
            message=(f"{exchange.name}: {problem}."
                     + (f" Needs a human: {'; '.join(result.needs_human[:5])}."
                        if result.needs_human else "")
                     + f" Run manage.py recover_orders --exchange {exchange.name} once the "
                     "exchange answers."),
            details={"problem": problem, "errors": result.errors[:20],
                     "needs_human": result.needs_human[:20]},
            by="recovery", resolved_reason=f"a later recovery of {exchange.name} completed")


def conformance_result(*, exchange: Any, ok: bool, detail: str = "") -> None:
    """For the conformance check (wave 2): failing raises
    ``conformance_failing`` on the exchange; passing resolves it."""
    alert_condition(active=not ok, kind=AlertKind.CONFORMANCE_FAILING,
                    subject=f"exchange:{exchange.name}", exchange=exchange,
                    title=f"Conformance check failing on {exchange.name}",
                    message=detail or "The exchange does not answer as its docs say.",
                    resolved_reason="conformance check passed")


def api_key_expiry_seen(*, exchange: Any, expires_at: datetime | None,
                        now: datetime | None = None) -> None:
    """For the conformance check (wave 2), where the exchange says when its
    key expires (Wallex keys: within 90 days): warn ``api_key_warn_days``
    before, critical once expired; resolved when a later key is seen."""
    from trading.alerts.models import MonitorSettings

    now = now or timezone.now()
    warn_days = MonitorSettings.load().api_key_warn_days
    days = (expires_at - now).total_seconds() / 86400 if expires_at else None
    alert_condition(
        active=days is not None and days <= warn_days, kind=AlertKind.API_KEY_EXPIRY,
        subject=f"exchange:{exchange.name}", exchange=exchange,
        title=(f"API key of {exchange.name} expires in {max(days or 0, 0):.0f} days"
               if days is None or days > 0 else f"API key of {exchange.name} has expired"),
        message=(f"It expires at {expires_at:%Y-%m-%d %H:%M} UTC. Create a new key on the "
                 "exchange and set it in the admin." if expires_at else ""),
        severity=Severity.CRITICAL if days is not None and days <= 1 else Severity.WARNING,
        resolved_reason="a key with a later expiry is in use")
