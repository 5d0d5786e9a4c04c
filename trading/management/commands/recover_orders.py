"""``manage.py recover_orders``: reconcile with the exchanges after an outage."""

from __future__ import annotations

import getpass
import logging
import math
import os
import socket
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from arbsite.locks import RECOVER_ORDERS
from exchanges.models import Exchange
from trading.services.ledger import ledger_check, ledger_state
from trading.services.recovery import RecoveryReport, orders_recover
from trading.services.sync import GraceTooShort

logger = logging.getLogger(__name__)

# Exit codes (also in the help).
COMPLETE = 0
USAGE = 1  # wrong arguments: nothing done
INCOMPLETE = 2  # an exchange, an order or a step could not be fully recovered
FAILED = 3  # an unexpected error stopped the recovery (the log has its traceback)
LOCKED_OUT = 4  # another recovery is running: nothing done


def _operator() -> str:
    """Who runs the command: the OS user on this host and pid."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user} on {socket.gethostname()} (recover_orders, pid {os.getpid()})"


COLUMNS = ("exchange", "checked", "adopted", "updated", "imported", "failed", "fills", "status")


class Command(BaseCommand):
    help = (
        "Reconcile orders with the exchanges: adopt or fail orders left pending or unknown, "
        "bring open orders and their fills up to date, import orders found open on an "
        "exchange, close settled opportunities, recompute today's risk. An error on one "
        "order is recorded on it (flagged \"needs a human\") and the others go on. "
        "Exit codes: 0 complete; 1 wrong arguments (nothing done); 2 incomplete (an "
        "exchange, an order or a step could not be fully recovered: see the summary); "
        "3 an unexpected error stopped it; 4 another recovery is running (nothing done)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        """Wrong arguments exit with USAGE (1), not argparse's 2 (incomplete here)."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str):
            if not parser.called_from_command_line:
                raise CommandError(f"Error: {message}")
            parser.print_usage(sys.stderr)
            parser.exit(USAGE, f"{parser.prog}: error: {message}\n")

        parser.error = error
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--exchange", action="append", dest="exchanges", metavar="NAME",
                            help="Only this exchange (repeatable). Default: every enabled one.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Change nothing; print what would be done.")
        parser.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                            help="Wait between the first and the confirming not-found before "
                                 "an order is marked rejected (default "
                                 "ORDER_NOT_FOUND_GRACE_SECONDS or 30); at least the place "
                                 "timeout (EXCHANGE_RATE_LIMIT_MAX_WAIT + "
                                 "EXCHANGE_CONNECT_TIMEOUT + EXCHANGE_READ_TIMEOUT).")
        parser.add_argument("--cancel-external", action="store_true",
                            help="Cancel the orders found open on an exchange that this system "
                                 "did not place (default: import and leave them).")
        parser.add_argument("--force", action="store_true",
                            help="Take the recovery lock over from its holder, for when you "
                                 "know that holder is dead (it expires by itself within "
                                 f"{RECOVER_ORDERS.ttl_seconds:g} s otherwise). Says who held "
                                 "it; logged and recorded as an alert.")

    def handle(self, *args, **options):
        grace = None
        if options["grace"] is not None:
            if not math.isfinite(options["grace"]):
                raise CommandError(f"--grace must be a number of seconds (got {options['grace']})",
                                   returncode=USAGE)
            grace = timedelta(seconds=options["grace"])
        self._check_exchanges(options["exchanges"])
        if options["dry_run"]:
            self.stdout.write("dry run: nothing will be changed")
        try:
            report = orders_recover(exchange_names=options["exchanges"],
                                    dry_run=options["dry_run"], grace=grace,
                                    cancel_external=options["cancel_external"],
                                    progress=self._progress, force=options["force"],
                                    forced_by=_operator(), force_reason="recover_orders --force")
        except GraceTooShort as exc:
            raise CommandError(f"--grace {options['grace']:g}: {exc}", returncode=USAGE) from None
        except Exception as exc:
            logger.exception("recover_orders: unexpected error")
            self.stderr.write(f"\nrecovery FAILED: unexpected {type(exc).__name__}: {exc}\n"
                              "(the log has the traceback; what was done before it stands: "
                              "run recover_orders again once the cause is fixed)")
            sys.exit(FAILED)
        self._summary(report)
        try:
            self._ledger(report)
        except Exception as exc:
            logger.exception("recover_orders: the ledger check failed")
            self.stdout.write(f"ledger: not checked: unexpected {type(exc).__name__}: {exc}")
            sys.exit(INCOMPLETE)
        if report.locked_out:
            sys.exit(LOCKED_OUT)
        if not report.complete:
            sys.exit(INCOMPLETE)

    def _check_exchanges(self, names: list[str] | None) -> None:
        """A name that is no exchange is a typo: refused before anything is done."""
        if not names:
            return
        known = set(Exchange.objects.values_list("name", flat=True))
        unknown = sorted(set(names) - known)
        if unknown:
            raise CommandError(
                f"--exchange: no such exchange {', '.join(unknown)} (known: "
                f"{', '.join(sorted(known)) or 'none: run manage.py setup'}); nothing done",
                returncode=USAGE)

    def _ledger(self, report: RecoveryReport) -> None:
        """The ledger at the end of recovery: a fresh check (orders are settled
        now, the best moment to judge), or the last one in a dry run."""
        if report.locked_out:
            return
        names = [r.exchange for r in report.exchanges if not r.skipped]
        if not names:
            self.stdout.write("\nledger: not checked (no exchange could be recovered)")
            return
        if not report.dry_run:
            for run in ledger_check(exchange_names=names):
                if run.error:
                    self.stdout.write(f"ledger: {run.exchange}: not checked: {run.error}")
        self.stdout.write("\nledger (balance the exchange reports vs what our records explain):")
        state = ledger_state(exchange_names=names)
        if not state:
            self.stdout.write("  no ledger check yet")
        for exchange, checks in state.items():
            worst = ("MISMATCH" if any(c.status == "mismatch" for c in checks) else
                     "unsettled" if any(c.status == "unsettled" for c in checks) else "ok")
            at = checks[0].checked_at
            self.stdout.write(f"  {exchange}: {worst} (checked {at:%H:%M:%S} UTC)")
            for c in checks:
                if c.status in ("mismatch", "unsettled") or c.difference:
                    self.stdout.write(
                        f"    {c.asset}: {c.status}; actual {c.actual:f}, expected "
                        f"{c.expected if c.expected is not None else '-'}, difference "
                        f"{c.difference if c.difference is not None else '-'}"
                        + (f" ({c.note})" if c.note else ""))

    def _progress(self, exchange: str, done: int, total: int) -> None:
        if total < 0:
            self.stdout.write(f"{exchange}: recovering…")
        else:
            self.stdout.write(f"{exchange}: {done}/{total} orders checked")

    def _summary(self, report: RecoveryReport) -> None:
        if report.locked_out:
            expiry = (f"; unless renewed it expires in {report.lock_expires_s:.0f} s"
                      if report.lock_expires_s is not None else "")
            self.stderr.write(
                f"another recovery is running: the {RECOVER_ORDERS.name} lock is held by "
                f"{report.lock_holder or 'a holder that has just released it'}{expiry}; "
                "nothing done. A live holder keeps renewing it; if you know that process is "
                "dead, run again with --force to take the lock over.")
            return
        if report.taken_over:
            self.stderr.write(f"took the {RECOVER_ORDERS.name} lock over from "
                              f"{report.lock_holder} (--force; recorded as an alert)")
        if report.lock_lost:
            self.stderr.write(f"the {RECOVER_ORDERS.name} lock was taken over by another "
                              "process meanwhile: this recovery stopped; the other goes on")
        rows = [COLUMNS]
        for r in report.exchanges:
            problems = [f"{len(r.errors)} error(s)"] if r.errors else []
            problems += [f"{r.unclear} unclear answer(s)"] if r.unclear else []
            status = f"SKIPPED: {r.skipped}" if r.skipped else ", ".join(problems) or "ok"
            rows.append((r.exchange, r.checked, r.adopted, r.updated, r.imported, r.failed,
                         r.fills_added, status))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS) - 1)]
        self.stdout.write("")
        for row in rows:
            cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(row, widths, strict=False))]
            self.stdout.write("  ".join([*cells, str(row[-1])]))
        self.stdout.write(f"\nopportunities closed: {report.opportunities_closed}; "
                          f"took {report.elapsed_s:.1f}s")
        for r in report.exchanges:
            for action in r.actions:
                self.stdout.write(f"would: {r.exchange}: {action}")
            for error in r.errors[:20]:
                self.stdout.write(f"error: {r.exchange}: {error}")
            if len(r.errors) > 20:
                self.stdout.write(f"error: {r.exchange}: … and {len(r.errors) - 20} more "
                                  "(the log has them all)")
        for failure in report.failures:
            self.stdout.write(f"failed: {failure}")
        if report.needs_human:
            self.stdout.write("\nneeds a human:")
            for item in report.needs_human:
                self.stdout.write(f"  - {item}")
        verdict = "complete" if report.complete else "INCOMPLETE"
        self.stdout.write(f"\nrecovery {verdict}{' (dry run)' if report.dry_run else ''}")
