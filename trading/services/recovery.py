"""Recovery after an outage: what ``recover_orders`` and every worker's
start-up run, so that a restart heals itself.

For each enabled exchange (or those named):

- orders left ``pending_submit`` or ``unknown`` are looked up by client
  order id: found → adopted with the exchange's id and state; explicitly not
  found, again after the grace period → ``rejected`` (it never got there);
- open and partly filled orders are brought up to date, every fill missed
  while down recorded once as a Trade;
- orders open on the exchange that the database does not know are imported
  as external (never cancelled unless asked);

then entry legs still resting after their execution window are cancelled
(``trading.services.legs``), opportunities whose legs are final are closed
(a one-sided fill unwound by the settlement policy), and today's risk figures are recomputed
from the database. An exchange that cannot be reached is reported and
skipped; the others are still recovered, and the report says it is
incomplete. Ambiguity (timeout, 5xx, rate limit) is never read as "no
such order": see ``trading.services.sync``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.utils import timezone

from arbsite.locks import RECOVER_ORDERS, redis_lock
from exchanges.errors import ExchangeError
from exchanges.models import Exchange
from exchanges.registry import probe_adapter
from exchanges.states import TERMINAL_STATES
from trading.alerts.hooks import lock_taken_over, recovery_finished
from trading.models import Opportunity, OpportunityStatus, Order
from trading.services.fills import fills_missing
from trading.services.legs import legs_overdue
from trading.services.sync import (
    UNRESOLVED,
    ExchangeSyncReport,
    Progress,
    SyncMode,
    configured_not_found_grace,
    exchange_sync_pass,
    grace_check,
    opportunities_settle,
)

logger = logging.getLogger(__name__)

SOURCE = "recovery"
# Rate limits are waited out this long per exchange: recovery must finish.
PATIENCE = 120.0


@dataclass
class RecoveryReport:
    exchanges: list[ExchangeSyncReport] = field(default_factory=list)
    opportunities_closed: int = 0
    opportunities_waiting: list[str] = field(default_factory=list)
    dry_run: bool = False
    locked_out: bool = False  # another recovery was running: nothing done
    lock_holder: str = ""  # who held the lock (locked out), or was displaced (forced)
    lock_expires_s: float | None = None  # when locked out: left before it expires unrenewed
    taken_over: bool = False  # the lock was taken over by force
    lock_lost: bool = False  # the lock was taken from this recovery meanwhile: it stopped
    elapsed_s: float = 0.0
    # Steps after the exchanges (settling, the daily loss, the snapshot) that
    # failed unexpectedly: each said here, logged with its traceback.
    failures: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.locked_out and not self.lock_lost and not self.failures and all(
            not r.skipped and not r.errors and not r.unclear for r in self.exchanges)

    @property
    def needs_human(self) -> list[str]:
        items = [f"{r.exchange}: {m}" for r in self.exchanges for m in r.needs_human]
        items += [f"{r.exchange}: skipped: {r.skipped}" for r in self.exchanges if r.skipped]
        return items + self.opportunities_waiting


def _recover_exchange(exchange: Exchange, *, dry_run: bool, grace: timedelta,
                      wait_grace: bool, cancel_external: bool,
                      progress: Progress | None) -> ExchangeSyncReport:
    # Recovery looks up every unresolved order however young (no executor is
    # sending it any more), waits out rate limits, and imports what it finds
    # open on the exchange that this system never placed.
    mode = SyncMode(source=SOURCE, pending_grace=timedelta(0), not_found_grace=grace,
                    patience=PATIENCE, wait_out_backoff=True, import_external=True,
                    cancel_external=cancel_external, dry_run=dry_run)
    # A dry run is a probe: its own adapter, which neither counts towards
    # nor opens the shared breaker and spends its own rate budget, not
    # trading's (exchanges.registry.probe_adapter).
    probe = probe_adapter(exchange) if dry_run else None
    try:
        report = exchange_sync_pass(exchange=exchange, mode=mode, progress=progress,
                                    adapter=probe)
    except ExchangeError as exc:
        return ExchangeSyncReport(exchange.name, skipped=str(exc))
    except Exception as exc:  # one exchange never stops the others: reported, not raised
        logger.exception("recovery %s: unexpected error; the other exchanges go on",
                         exchange.name)
        return ExchangeSyncReport(exchange.name,
                                  skipped=f"unexpected {type(exc).__name__}: {exc}")
    finally:
        if probe is not None:
            probe.close()
    if report.skipped or dry_run or not wait_grace or not report.not_found_pending:
        return report
    # The exchange said "no such order" once: ask again after the grace, so an
    # order still on its way in is not failed by a single answer.
    waiting = list(Order.objects.filter(exchange=exchange, status__in=UNRESOLVED,
                                        not_found_since__isnull=False)
                   .values_list("pk", "not_found_since"))
    if waiting:
        due = max(since for _, since in waiting) + grace
        pause = (due - timezone.now()).total_seconds()
        if pause > 0:
            logger.info("recovery %s: %d order(s) not found; confirming in %.0fs",
                        exchange.name, len(waiting), pause)
            time.sleep(pause)
        try:
            again = exchange_sync_pass(exchange=exchange, only_ids=[pk for pk, _ in waiting],
                                       mode=replace(mode, import_external=False))
        except Exception as exc:  # reported; the pass above stands
            if not isinstance(exc, ExchangeError):
                logger.exception("recovery %s: confirming not-found orders failed",
                                 exchange.name)
            report.errors.append(f"confirmation of not-found orders: {exc}")
            return report
        report.adopted += again.adopted
        report.updated += again.updated
        report.failed += again.failed
        report.fills_added += again.fills_added
        report.calls += again.calls
        report.errors.extend(again.errors)
        report.needs_human.extend(again.needs_human)
        report.unclear += again.unclear
        report.not_found_pending = again.not_found_pending
    return report


def _settle(report: RecoveryReport, dry_run: bool) -> None:
    executing = Opportunity.objects.filter(status=OpportunityStatus.EXECUTING).order_by("pk")
    if not dry_run:
        report.opportunities_closed = opportunities_settle(source=SOURCE)
    overdue = {o.pk for o in legs_overdue()} if dry_run else set()
    for opportunity in executing.prefetch_related("orders"):
        orders = list(opportunity.orders.all())
        ready = all(o.status in TERMINAL_STATES and not fills_missing(o) for o in orders)
        if dry_run and ready:
            report.opportunities_waiting.append(
                f"opportunity {opportunity.pk}: legs final; would close (unwinding any "
                "one-sided fill)")
        elif not ready:
            live = [f"{o.client_order_id} {o.status}"
                    + (" (resting past its execution window: would be cancelled)"
                       if o.pk in overdue else "")
                    for o in orders if o.status not in TERMINAL_STATES]
            report.opportunities_waiting.append(
                f"opportunity {opportunity.pk} still executing: " + (", ".join(live) or
                                                                      "fills missing"))


def orders_recover(*, exchange_names: list[str] | None = None, dry_run: bool = False,
                   grace: timedelta | None = None, wait_grace: bool = True,
                   cancel_external: bool = False, progress: Progress | None = None,
                   wait_for_lock: float = 0.0, force: bool = False,
                   forced_by: str = "", force_reason: str = "") -> RecoveryReport:
    """Reconcile the database with the exchanges (see the module docstring).

    One recovery at a time across processes (``arbsite.locks.RECOVER_ORDERS``,
    renewed while held, short TTL); a second caller gets ``locked_out`` with
    the holder named, after waiting ``wait_for_lock`` seconds for it (a worker
    starting after one killed mid-recovery waits out that lock's TTL).
    ``force`` takes the lock over from a holder an operator knows is dead:
    logged, and audited as a ``lock_taken_over`` alert naming ``forced_by``.
    ``wait_grace=False`` (worker start-up) does not wait for the confirming
    not-found: a later sync confirms. A ``grace`` below the place timeout is
    refused (``GraceTooShort``), as is such a setting.
    """
    started = time.monotonic()
    grace = (grace_check(grace, what="the not-found grace") if grace is not None
             else configured_not_found_grace())
    report = RecoveryReport(dry_run=dry_run)
    with redis_lock(RECOVER_ORDERS, wait=wait_for_lock, force=force) as held:
        if not held:
            report.locked_out = True
            report.lock_holder = held.holder.describe() if held.holder else ""
            report.lock_expires_s = held.ttl_left_s
            logger.info("recovery already running (lock held by %s); skipped",
                        report.lock_holder or "a holder that has just released it")
            return report
        if held.taken_over is not None:
            report.taken_over = True
            report.lock_holder = held.taken_over.describe()
            lock_taken_over(lock=RECOVER_ORDERS.name, previous=report.lock_holder,
                            by=forced_by or held.holder.describe(),
                            reason=force_reason or "recover_orders --force")
        exchanges = Exchange.objects.filter(enabled=True).order_by("name")
        if exchange_names:
            exchanges = Exchange.objects.filter(name__in=exchange_names).order_by("name")
            unknown = set(exchange_names) - {e.name for e in exchanges}
            report.exchanges += [ExchangeSyncReport(n, skipped="no such exchange")
                                 for n in sorted(unknown)]
        for exchange in exchanges:
            if held.lost.is_set():  # taken over meanwhile: the new holder recovers
                report.lock_lost = True
                logger.error("recovery stopped before %s: its lock was taken over",
                             exchange.name)
                break
            if progress is not None:
                progress(exchange.name, 0, -1)
            result = _recover_exchange(exchange, dry_run=dry_run, grace=grace,
                                       wait_grace=wait_grace,
                                       cancel_external=cancel_external, progress=progress)
            report.exchanges.append(result)
            logger.info("recovery %s: checked %d adopted %d updated %d imported %d failed %d "
                        "fills %d in %d calls%s", exchange.name, result.checked, result.adopted,
                        result.updated, result.imported, result.failed, result.fills_added,
                        result.calls, f"; skipped: {result.skipped}" if result.skipped else "")
        from trading.services.risk import daily_loss_enforce
        from trading.services.snapshots import snapshot_refresh

        steps = [("settling opportunities", lambda: _settle(report, dry_run))]
        if not dry_run:
            steps += [("enforcing the daily loss limit", daily_loss_enforce),
                      ("refreshing today's snapshot", snapshot_refresh)]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # each step runs; the report says which failed
                logger.exception("recovery: %s failed", what)
                report.failures.append(f"{what}: unexpected {type(exc).__name__}: {exc}")
    report.elapsed_s = time.monotonic() - started
    if not dry_run:
        for what, step in (("storing the summary", recovery_summary_store),
                           ("raising or resolving its alerts",
                            lambda r: recovery_finished(report=r))):
            try:
                step(report)
            except Exception as exc:  # the recovery itself is done: said, not raised
                logger.exception("recovery: %s failed", what)
                report.failures.append(f"{what}: unexpected {type(exc).__name__}: {exc}")
    return report


SUMMARY_TTL = 7 * 24 * 3600


def recovery_summary_store(report: RecoveryReport) -> None:
    """Keep a one-line summary of each exchange's last recovery (the control
    panel shows it beside the operator's request)."""
    from django.utils import timezone

    from arbsite.formatting import moment
    from arbsite.redis import key, redis_client

    at = moment(timezone.now())
    pipe = redis_client().pipeline(transaction=False)
    for r in report.exchanges:
        text = (f"{at}: checked {r.checked}, adopted {r.adopted}, updated {r.updated}, "
                f"imported {r.imported}, failed {r.failed}, fills {r.fills_added}")
        if r.skipped or r.errors:
            text += f"; INCOMPLETE: {r.skipped or '; '.join(r.errors[:3])}"
        elif r.unclear:
            text += f"; INCOMPLETE: {r.unclear} answer(s) that cannot be classified"
        if r.needs_human:
            text += f"; needs a human: {'; '.join(r.needs_human[:3])}"
        if report.failures:
            text += f"; FAILED: {'; '.join(report.failures[:3])}"
        pipe.set(key("recovery", "last", r.exchange), text, ex=SUMMARY_TTL)
    pipe.execute()


def recovery_last_summary(exchange: str) -> str:
    """The summary of the last recovery of ``exchange`` ('' if none)."""
    from arbsite.redis import key, redis_client

    return redis_client().get(key("recovery", "last", exchange)) or ""
