"""The running ledger: each exchange's balances against what our records
explain, per asset, every few minutes (``trading.check_ledger``) and at
the end of ``recover_orders``.

    expected = last reconciled balance
             + fills recorded since (base and quote moved, fees in their own assets)
             + transfers recorded since (out when sent, in when completed)

"Since" is the cut of the last reconciled check: records written after
it. A check is only judged when it is **settled**: no order of the
exchange live, none created, no fill or transfer recorded while the
balance was read, and every filled order's fills recorded. Otherwise a
fill on its way into our records would look like a mismatch; the check is
kept as ``unsettled`` and the next one judges.

A difference beyond the tolerance (the larger of a percent of the
expected balance and an absolute amount per asset, MonitorSettings)
raises a ``ledger_mismatch`` alert per exchange and asset, in the same
transaction as the check's rows, and pauses trading on the exchange when
``ledger_mismatch_pauses_trading`` is on. The last reconciled balance
stays until the difference is explained (a transfer recorded, an order
imported by recovery with its fills), which resolves the alert, or an
operator accepts the exchange's balance (``ledger_accept``).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from arbsite.locks import CHECK_LEDGER, redis_lock
from arbsite.settings_schema import LEDGER_TOLERANCE_ABS, SettingError
from exchanges.errors import ExchangeError, RateLimitedError
from exchanges.models import Exchange
from exchanges.states import LIVE_STATES
from trading.alerts.kinds import AlertKind, amount_text
from trading.alerts.models import MonitorSettings
from trading.capital.models import RECONCILED, LedgerCheck, LedgerStatus, Transfer, TransferState

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
PATIENCE_SECONDS = 30.0
HUNDRED = Decimal("100")


@dataclass
class LedgerRun:
    exchange: str
    checks: list[LedgerCheck] = field(default_factory=list)
    error: str = ""
    unsettled_because: list[str] = field(default_factory=list)
    paused: bool = False

    @property
    def mismatches(self) -> list[LedgerCheck]:
        return [c for c in self.checks if c.status == LedgerStatus.MISMATCH]

    @property
    def status(self) -> str:
        if self.error:
            return "not checked"
        if self.mismatches:
            return "MISMATCH"
        if self.unsettled_because:
            return "unsettled"
        return "ok"


def _fills_delta(exchange: Exchange, after: datetime | None, upto: datetime
                 ) -> tuple[dict[str, Decimal], dict[str, int]]:
    """What the fills recorded in (after, upto] moved, per asset."""
    from trading.models import Trade

    rows = Trade.objects.filter(exchange=exchange, created_at__lte=upto)
    if after is not None:
        rows = rows.filter(created_at__gt=after)
    delta: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counted: dict[str, int] = defaultdict(int)
    for row in (rows.values("side", "market__base", "market__quote", "fee_asset")
                .annotate(qty=Sum("quantity"), value=Sum("quote_amount"), fee=Sum("fee"),
                          n=Count("id"))):
        base, quote = row["market__base"].upper(), row["market__quote"].upper()
        sign = 1 if row["side"] == "buy" else -1
        delta[base] += sign * row["qty"]
        delta[quote] -= sign * row["value"]
        fee_asset = (row["fee_asset"] or quote).upper()
        delta[fee_asset] -= row["fee"] or ZERO
        for asset in {base, quote, fee_asset}:
            counted[asset] += row["n"]
    return delta, counted


def _transfers_delta(exchange: Exchange, after: datetime | None, upto: datetime
                     ) -> tuple[dict[str, Decimal], dict[str, int]]:
    delta: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counted: dict[str, int] = defaultdict(int)
    out = Transfer.objects.filter(from_exchange=exchange, sent_at__lte=upto,
                                  state__in=(TransferState.SENT, TransferState.COMPLETED))
    into = Transfer.objects.filter(to_exchange=exchange, completed_at__lte=upto,
                                   state=TransferState.COMPLETED)
    if after is not None:
        out, into = out.filter(sent_at__gt=after), into.filter(completed_at__gt=after)
    for t in out:
        delta[t.asset] -= t.amount + t.fee
        counted[t.asset] += 1
    for t in into:
        delta[t.asset] += t.amount
        counted[t.asset] += 1
    return delta, counted


def _orders_in_flight(exchange: Exchange, since: datetime | None) -> list[str]:
    """Why the balance may not reflect our records right now ([] when settled)."""
    from trading.models import Order

    reasons = []
    live = Order.objects.filter(exchange=exchange, status__in=LIVE_STATES).count()
    if live:
        reasons.append(f"{live} order(s) live")
    recent = Order.objects.filter(exchange=exchange, filled_quantity__gt=0)
    if since is not None:
        recent = recent.filter(updated_at__gte=since)
    missing = (recent.annotate(recorded=Sum("trades__quantity"))
               .filter(recorded__lt=F("filled_quantity")).count()
               + recent.filter(trades__isnull=True).count())
    if missing:
        reasons.append(f"{missing} filled order(s) with fills not yet recorded")
    return reasons


def _between(exchange: Exchange, t0: datetime, t1: datetime) -> list[str]:
    """Records written while the balance was read: the read may or may not include them."""
    from trading.models import Order, Trade

    reasons = []
    if Order.objects.filter(exchange=exchange, created_at__gt=t0, created_at__lte=t1).exists():
        reasons.append("an order was placed during the read")
    if Trade.objects.filter(exchange=exchange, created_at__gt=t0, created_at__lte=t1).exists():
        reasons.append("a fill was recorded during the read")
    if (Transfer.objects.filter(from_exchange=exchange, sent_at__gt=t0, sent_at__lte=t1).exists()
            or Transfer.objects.filter(to_exchange=exchange, completed_at__gt=t0,
                                       completed_at__lte=t1).exists()):
        reasons.append("a transfer was recorded during the read")
    return reasons


def tolerance_for(asset: str, expected: Decimal, settings_row: MonitorSettings) -> Decimal:
    pct = abs(expected) * settings_row.ledger_tolerance_pct / HUNDRED
    try:
        absolute = LEDGER_TOLERANCE_ABS.amount(settings_row.ledger_tolerance_abs, asset) or ZERO
    except SettingError as exc:
        # A row written before the admin checked it: no absolute tolerance
        # (the stricter reading: a difference is reported, never hidden).
        logger.error("ledger: %s; no absolute tolerance for %s", exc, asset)
        absolute = ZERO
    return max(pct, absolute)


def _last_reconciled(exchange: Exchange, asset: str) -> LedgerCheck | None:
    return (LedgerCheck.objects.filter(exchange=exchange, asset=asset, status__in=RECONCILED)
            .order_by("-cut_at", "-id").first())


def _pause(exchange: Exchange, reason: str) -> bool:
    row = Exchange.objects.select_for_update().get(pk=exchange.pk)
    if not row.trading_enabled:
        return False
    row.trading_enabled = False
    row._change_reason = reason  # its history says why
    row.save(update_fields=["trading_enabled", "updated_at"])
    logger.error("trading paused on %s: %s", exchange.name, reason)
    return True


def _balances_patiently(adapter) -> dict:
    """The balances, waiting out a short rate-limit back-off (this is no hot
    path; detection's periodic read shares the budget)."""
    for _ in range(3):
        try:
            return adapter.balances()
        except RateLimitedError as exc:
            wait = exc.retry_after or 1.0
            if wait > PATIENCE_SECONDS:
                raise
            time.sleep(wait)
    return adapter.balances()


def ledger_check_exchange(*, exchange: Exchange) -> LedgerRun:
    """One check of one exchange (see the module docstring)."""
    from exchanges.registry import get_adapter
    from trading.alerts.services import alert_raise, alert_resolve

    run = LedgerRun(exchange.name)
    settings_row = MonitorSettings.load()
    since = timezone.now() - timedelta(days=1)
    t0 = timezone.now()
    before = _orders_in_flight(exchange, since)
    try:
        balances = _balances_patiently(get_adapter(exchange))
    except ExchangeError as exc:
        run.error = str(exc)
        logger.warning("ledger %s: balances not read: %s", exchange.name, exc)
        return run
    t1 = timezone.now()
    run.unsettled_because = sorted(set(before + _orders_in_flight(exchange, since)
                                       + _between(exchange, t0, t1)))
    settled = not run.unsettled_because
    actual = {asset.upper(): b.total for asset, b in balances.items()}
    known = set(LedgerCheck.objects.filter(exchange=exchange)
                .values_list("asset", flat=True).distinct())
    latest = {asset: check for asset in set(actual) | known
              if (check := _last_reconciled(exchange, asset)) is not None}
    assets = sorted(set(actual) | set(latest))
    with transaction.atomic():
        for asset in assets:
            base = latest.get(asset)
            value = actual.get(asset, ZERO)
            check = LedgerCheck(exchange=exchange, asset=asset, checked_at=t1, cut_at=t0,
                                actual=value, note="; ".join(run.unsettled_because))
            if base is None:
                check.status = LedgerStatus.BASELINE if settled else LedgerStatus.UNSETTLED
                if settled:
                    check.note = "first settled balance: the baseline"
                    check.reconciled_balance = value
                run.checks.append(check)
                continue
            fills, fills_n = _fills_delta(exchange, base.cut_at, t0)
            transfers, transfers_n = _transfers_delta(exchange, base.cut_at, t0)
            check.baseline = base
            check.baseline_balance = base.reconciled_balance
            check.fills_delta = fills.get(asset, ZERO)
            check.transfers_delta = transfers.get(asset, ZERO)
            check.fills_counted = fills_n.get(asset, 0)
            check.transfers_counted = transfers_n.get(asset, 0)
            check.expected = (base.reconciled_balance + check.fills_delta
                              + check.transfers_delta)
            check.difference = value - check.expected
            check.tolerance = tolerance_for(asset, check.expected, settings_row)
            if not settled:
                check.status = LedgerStatus.UNSETTLED
            elif abs(check.difference) <= check.tolerance:
                check.status = LedgerStatus.OK
                check.reconciled_balance = check.expected
            else:
                check.status = LedgerStatus.MISMATCH
            run.checks.append(check)
        LedgerCheck.objects.bulk_create(run.checks)
        for check in run.checks:
            subject = f"ledger:{exchange.name}:{check.asset}"
            if check.status == LedgerStatus.MISMATCH:
                alert_raise(
                    kind=AlertKind.LEDGER_MISMATCH, subject=subject, exchange=exchange,
                    title=(f"Ledger mismatch on {exchange.name}: {check.asset} off by "
                           f"{amount_text(check.difference, check.asset, sign=True)}"),
                    message=(f"{exchange.name} reports {amount_text(check.actual, check.asset)};"
                             f" our records explain {amount_text(check.expected, check.asset)} "
                             f"(last reconciled {amount_text(check.baseline_balance, check.asset)}"
                             f" at {check.baseline.cut_at:%Y-%m-%d %H:%M:%S} UTC, fills "
                             f"{amount_text(check.fills_delta, check.asset, sign=True)}, "
                             f"transfers "
                             f"{amount_text(check.transfers_delta, check.asset, sign=True)}); "
                             f"tolerance {amount_text(check.tolerance, check.asset)}."),
                    details={"actual": str(check.actual), "expected": str(check.expected),
                             "difference": str(check.difference),
                             "tolerance": str(check.tolerance),
                             "baseline_at": check.baseline.cut_at.isoformat(),
                             "check_id": check.pk})
            elif check.status == LedgerStatus.OK:
                alert_resolve(kind=AlertKind.LEDGER_MISMATCH, subject=subject, by="ledger",
                              reason=f"explained: {amount_text(check.actual, check.asset)} as "
                                     "expected")
        if run.mismatches and settings_row.ledger_mismatch_pauses_trading:
            assets_off = ", ".join(c.asset for c in run.mismatches)
            run.paused = _pause(exchange, f"ledger mismatch in {assets_off}")
    if run.mismatches:
        logger.error("ledger %s: mismatch in %s", exchange.name,
                     ", ".join(f"{c.asset} {c.difference:+f}" for c in run.mismatches))
    return run


def ledger_check(*, exchange_names: list[str] | None = None) -> list[LedgerRun]:
    """Check every enabled exchange (or those named). One reconciliation at a
    time across processes (``arbsite.locks.CHECK_LEDGER``): a caller that finds
    another running gets no runs (the other's checks are kept as usual)."""
    with redis_lock(CHECK_LEDGER) as acquired:
        if not acquired:
            logger.info("ledger: a check is already running elsewhere; skipped")
            return []
        exchanges = Exchange.objects.filter(enabled=True)
        if exchange_names:
            exchanges = Exchange.objects.filter(name__in=exchange_names)
        runs = []
        for exchange in exchanges.order_by("name"):
            try:
                runs.append(ledger_check_exchange(exchange=exchange))
            except Exception as exc:
                logger.exception("ledger %s: check failed", exchange.name)
                runs.append(LedgerRun(exchange.name, error=f"{type(exc).__name__}: {exc}"))
        return runs


def ledger_accept(*, check_id: int, actor: str, reason: str) -> LedgerCheck:
    """An operator accepts the exchange's balance of this check as the new
    reconciled balance (the difference is written off, with the reason)."""
    from django.core.exceptions import ValidationError

    from trading.alerts.services import alert_resolve

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    with transaction.atomic():
        check = LedgerCheck.objects.select_for_update().select_related("exchange").get(
            pk=check_id)
        newer = LedgerCheck.objects.filter(exchange=check.exchange, asset=check.asset,
                                           cut_at__gt=check.cut_at).exists()
        if check.status != LedgerStatus.MISMATCH or newer:
            raise ValidationError("Only the latest check, when it is a mismatch, can be accepted.")
        check.status = LedgerStatus.ACCEPTED
        check.reconciled_balance = check.actual
        check.accepted_by = actor[:150]
        check.note = f"accepted by {actor}: {reason}" + (f"; {check.note}" if check.note else "")
        check.save(update_fields=["status", "reconciled_balance", "accepted_by", "note"])
        alert_resolve(kind=AlertKind.LEDGER_MISMATCH,
                      subject=f"ledger:{check.exchange.name}:{check.asset}", by=actor,
                      reason=f"balance {check.actual:f} accepted: {reason}")
    return check


def ledger_state(*, exchange_names: list[str] | None = None) -> dict[str, list[LedgerCheck]]:
    """The latest check of each asset per exchange (a selector)."""
    rows = LedgerCheck.objects.select_related("exchange").order_by("exchange__name", "asset",
                                                                   "-checked_at", "-id")
    if exchange_names:
        rows = rows.filter(exchange__name__in=exchange_names)
    state: dict[str, list[LedgerCheck]] = {}
    seen = set()
    for check in rows[:2000]:
        if (check.exchange_id, check.asset) in seen:
            continue
        seen.add((check.exchange_id, check.asset))
        state.setdefault(check.exchange.name, []).append(check)
    return state


def transfer_record(*, transfer: Transfer, actor_user: object | None = None) -> Transfer:
    """Save a transfer an operator entered (admin), stamping when its
    ledger effects were recorded."""
    now = timezone.now()
    moved = transfer.state in (TransferState.SENT, TransferState.COMPLETED)
    if moved and transfer.from_exchange_id:
        transfer.sent_at = transfer.sent_at or now
    if transfer.state == TransferState.COMPLETED and transfer.to_exchange_id:
        transfer.completed_at = transfer.completed_at or now
    if actor_user is not None and transfer.recorded_by_id is None:
        transfer.recorded_by = actor_user
    transfer.full_clean()
    transfer.save()
    return transfer


NEXT_STATES = {
    TransferState.PENDING: (TransferState.SENT, TransferState.COMPLETED, TransferState.CANCELLED),
    TransferState.SENT: (TransferState.COMPLETED,),
    TransferState.COMPLETED: (),
    TransferState.CANCELLED: (),
}


def transfer_advance(*, transfer_id: int, to_state: str, reason: str = "") -> Transfer:
    """Move a transfer forward (pending → sent → completed, or cancelled
    while pending), stamping the ledger times. Its history keeps the reason."""
    from django.core.exceptions import ValidationError

    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        if to_state not in NEXT_STATES[TransferState(transfer.state)]:
            raise ValidationError(f"A {transfer.state} transfer cannot become {to_state}.")
        transfer.state = to_state
        transfer._change_reason = reason or f"marked {to_state}"
        return transfer_record(transfer=transfer)
