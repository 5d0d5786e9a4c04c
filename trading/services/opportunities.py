"""The opportunity state machine: the only code that changes
``Opportunity.status``, and the OpportunityEvent it writes with every change.

    detected → executing (claimed by one executor)
             → rejected  (expired: never claimed within the book age)
    executing → rejected (refused at execution: kill switch, limits, paused, late)
              → done | partial | unwound | failed (settled from its orders)
    done | partial | unwound | failed → executing (reopened: an order held
              rejected turned out to exist; it settles again with its real fills)

Each change is a compare-and-set (a conditional UPDATE on the status it
leaves) with its event in the same transaction, so two workers can never
both claim, and a claim can never race an expiry: whichever takes the row
first wins, the other changes nothing. Detection creates the row
(``detected``); its history starts with the first change.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from trading.models import Opportunity, OpportunityEvent, OpportunityStatus, RiskSettings
from trading.services.decision_cache import PNL, STATE, decision_cache_bump

logger = logging.getLogger(__name__)

S = OpportunityStatus

# detected or executing: planned and not closed (its pair is busy, its size
# counts against the exposure limits).
IN_FLIGHT = (S.DETECTED, S.EXECUTING)
SETTLED = (S.DONE, S.PARTIAL, S.UNWOUND, S.FAILED)
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DETECTED: frozenset({S.EXECUTING, S.REJECTED}),
    S.EXECUTING: frozenset({S.REJECTED, *SETTLED}),
    S.REJECTED: frozenset(),
    S.DONE: frozenset({S.EXECUTING}),
    S.PARTIAL: frozenset({S.EXECUTING}),
    S.UNWOUND: frozenset({S.EXECUTING}),
    S.FAILED: frozenset({S.EXECUTING}),
}


def _transition(*, opportunity_id: int, from_status: str, to_status: str, source: str,
                message: str = "", **fields: Any) -> bool:
    """Move one opportunity from ``from_status`` to ``to_status`` if it is
    still there; True when this call moved it. Joins the caller's
    transaction (a claim is written with its orders)."""
    if to_status not in ALLOWED_TRANSITIONS[from_status]:
        raise ValueError(f"opportunity {opportunity_id}: {from_status} → {to_status} "
                         "is not a transition")
    with transaction.atomic(savepoint=False):
        moved = Opportunity.objects.filter(pk=opportunity_id, status=from_status).update(
            status=to_status, **fields)
        if moved:
            # A conditional UPDATE, not a save: the fast path's kept reads of
            # what is in flight (and of today's P&L) are told here.
            decision_cache_bump(*((STATE, PNL) if "realized_pnl" in fields else (STATE,)))
            OpportunityEvent.objects.create(opportunity_id=opportunity_id,
                                            from_status=from_status, to_status=to_status,
                                            source=source, message=message[:2000])
    return bool(moved)


def opportunity_claim(*, opportunity_id: int, source: str) -> bool:
    """``detected → executing``: True for the one caller that takes it."""
    return _transition(opportunity_id=opportunity_id, from_status=S.DETECTED,
                       to_status=S.EXECUTING, source=source, executed_at=timezone.now())


def opportunity_refuse(*, opportunity_id: int, reason: str, source: str) -> bool:
    """``executing → rejected``: claimed, then refused before any order was
    written (the kill switch, a limit, a pause, or too late)."""
    refused = _transition(opportunity_id=opportunity_id, from_status=S.EXECUTING,
                          to_status=S.REJECTED, source=source, message=reason,
                          reason=reason, closed_at=timezone.now())
    if refused:
        logger.info("opportunity %s refused at execution: %s", opportunity_id, reason)
    return refused


def opportunities_expire(*, now: datetime | None = None, source: str = "sync") -> int:
    """``detected → rejected`` for every opportunity never claimed in time;
    returns how many.

    Execution refuses an opportunity older than the maximum book age, so one
    still ``detected`` past it (plus 5 s) — its task lost with a killed
    worker, or stuck behind a backlog — can never trade; left open it would
    also keep its market and exchange pair in flight and block detection
    there. Sync runs this before settling.
    """
    now = now or timezone.now()
    max_age = timedelta(milliseconds=RiskSettings.load().max_book_age_ms) + timedelta(seconds=5)
    reason = (f"not executed within {max_age.total_seconds():g} s of detection "
              "(task lost or delayed); nothing was sent")
    stale = list(Opportunity.objects.filter(status=S.DETECTED, created_at__lt=now - max_age)
                 .order_by("pk").values_list("pk", flat=True))
    expired = sum(
        _transition(opportunity_id=pk, from_status=S.DETECTED, to_status=S.REJECTED,
                    source=source, message=reason, reason=reason, closed_at=now)
        for pk in stale)
    if expired:
        logger.warning("%d detected opportunities expired unexecuted", expired)
    return expired


def opportunity_settle(*, opportunity_id: int, status: str, realized_pnl: Decimal,
                       reason: str, source: str) -> bool:
    """``executing → done | partial | unwound | failed`` with its realized
    P&L; True when this call closed it."""
    if status not in SETTLED:
        raise ValueError(f"opportunity {opportunity_id}: {status} is not a settled status")
    return _transition(opportunity_id=opportunity_id, from_status=S.EXECUTING,
                       to_status=status, source=source, message=reason,
                       reason=reason[:2000], realized_pnl=realized_pnl,
                       closed_at=timezone.now())



def opportunity_note(*, opportunity_id: int, source: str, message: str) -> None:
    """Record on the opportunity's history something done to it that changes
    no status (a resting leg cancelled): an event from and to its status."""
    status = Opportunity.objects.filter(pk=opportunity_id).values_list("status", flat=True).first()
    if status is not None:
        OpportunityEvent.objects.create(opportunity_id=opportunity_id, from_status=status,
                                        to_status=status, source=source, message=message[:2000])


def opportunity_reopen(*, opportunity_id: int, reason: str, source: str) -> bool:
    """``done | partial | unwound | failed → executing``: one of its orders,
    held rejected when it settled, was reported by its exchange after all
    (``orders.order_apply_report``). Settlement then runs again with the real
    fills (a one-sided position is unwound, the P&L recomputed). True when
    reopened; False when it is not settled (still executing: settlement will
    see the fill) or cannot be reopened because another opportunity of its
    market and exchange pair is in flight (logged: a human must settle it).
    """
    opportunity = Opportunity.objects.filter(pk=opportunity_id).only("status").first()
    if opportunity is None or opportunity.status not in SETTLED:
        return False
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves the caller's work intact
            reopened = _transition(opportunity_id=opportunity_id,
                                   from_status=opportunity.status, to_status=S.EXECUTING,
                                   source=source, message=f"reopened: {reason}",
                                   closed_at=None, realized_pnl=None)
    except IntegrityError:
        logger.error("opportunity %s not reopened (%s): another opportunity of its pair is in "
                     "flight; needs a human to settle it", opportunity_id, reason)
        return False
    if reopened:
        logger.warning("opportunity %s reopened: %s", opportunity_id, reason)
    return reopened
