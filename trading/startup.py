"""Worker start-up reconciliation: every worker, once ready, runs recovery
(one at a time across workers: the recovery lock), so a restart heals itself.
A worker that finds the lock held waits up to its TTL for it (a worker killed
mid-recovery leaves it that long at most: it is renewed only while its holder
lives), then skips only if a live holder still keeps it.

It runs in a background thread so the worker takes tasks meanwhile (the
state machine and the unique Trade ids make concurrent work safe), and it
does not wait out the not-found grace: the periodic sync confirms.
``ARBSITE_STARTUP_RECOVERY=0`` turns it off.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


def startup_recovery_enabled() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "ARBSITE_STARTUP_RECOVERY", True))


def recovery_run_at_startup() -> None:
    """Run recovery once; log its summary. Never raises: a worker must start."""
    from django.db import close_old_connections

    from arbsite.locks import RECOVER_ORDERS
    from trading.services.recovery import orders_recover

    try:
        # A worker killed during its own start-up recovery leaves the lock for
        # one TTL at most (it is renewed only while its holder lives): wait that
        # out rather than skip, so the restarted worker still recovers.
        report = orders_recover(wait_grace=False,
                                wait_for_lock=RECOVER_ORDERS.ttl_seconds + 2)
    except Exception:
        logger.exception("start-up recovery failed; run manage.py recover_orders")
        return
    finally:
        close_old_connections()
    if report.locked_out:
        logger.info("start-up recovery: another worker is recovering (lock held by %s)",
                    report.lock_holder or "?")
        return
    for r in report.exchanges:
        logger.info("start-up recovery %s: checked %d adopted %d updated %d imported %d "
                    "failed %d fills %d %s", r.exchange, r.checked, r.adopted, r.updated,
                    r.imported, r.failed, r.fills_added, r.skipped or "")
    level = logging.INFO if report.complete else logging.WARNING
    logger.log(level, "start-up recovery %s in %.1fs; needs a human: %s",
               "complete" if report.complete else "INCOMPLETE", report.elapsed_s,
               report.needs_human or "nothing")


def on_worker_ready(**_: object) -> threading.Thread | None:
    """The ``worker_ready`` signal handler."""
    if not startup_recovery_enabled():
        return None
    thread = threading.Thread(target=recovery_run_at_startup, name="startup-recovery",
                              daemon=True)
    thread.start()
    return thread
