"""Per-pair protections, as freqtrade's (StoplossGuard, CooldownPeriod) do it.

After ``RiskSettings.protection_max_failures`` unwinds or failed round trips
of one market and direction (buy exchange → sell exchange) closed within
``protection_window_minutes``, that direction pauses for
``protection_cooldown_minutes``: a ``PairProtection`` row (what tripped it,
the opportunities counted, when it ends, who ended it early), written with
an event on the history of the opportunity whose close tripped it (source
``protection``) and a warning in the log.

Detection refuses a protected direction (``Reason.PROTECTED``, "protected
until …"); execution refuses an opportunity of it detected before it
tripped. The other direction of the same pair and the other markets trade on.
A protection ends on its own at ``until`` (nothing to release: it is simply
no longer active), or earlier through the admin's confirmed action
(``protection_end``). Only the failures closed after the last protection of
a direction started count toward the next one, so an expired protection does
not trip again at once on the failures that tripped it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from arbsite.formatting import moment
from trading.models import (
    Opportunity,
    OpportunityEvent,
    OpportunityStatus,
    PairProtection,
    RiskSettings,
)

logger = logging.getLogger(__name__)

# What counts toward a protection: a round trip that had to be unwound, or
# one whose legs both came to nothing.
COUNTED = (OpportunityStatus.UNWOUND, OpportunityStatus.FAILED)


@dataclass(frozen=True)
class ActiveProtection:
    market: str
    buy_exchange: str
    sell_exchange: str
    until: datetime
    reason: str


def protections_active(*, now: datetime | None = None
                       ) -> dict[tuple[str, str, str], ActiveProtection]:
    """(market code, buy exchange, sell exchange) → its protection in force (one query)."""
    now = now or timezone.now()
    rows = (PairProtection.objects.filter(until__gt=now)
            .values_list("market__base", "market__quote", "buy_exchange__name",
                         "sell_exchange__name", "until", "reason")
            .order_by("until"))
    out: dict[tuple[str, str, str], ActiveProtection] = {}
    for base, quote, buy, sell, until, reason in rows:
        code = f"{base}-{quote}"
        out[(code, buy, sell)] = ActiveProtection(code, buy, sell, until, reason)
    return out


def protection_blocker(opportunity: Opportunity, *, now: datetime | None = None) -> str | None:
    """Why execution must refuse this opportunity (its direction is protected), or None."""
    now = now or timezone.now()
    row = (PairProtection.objects.filter(
        until__gt=now, market_id=opportunity.market_id,
        buy_exchange_id=opportunity.buy_exchange_id,
        sell_exchange_id=opportunity.sell_exchange_id).order_by("-until").first())
    if row is None:
        return None
    return f"protected until {moment(row.until)}: {row.reason}"


def protection_after_close(*, opportunity: Opportunity, status: str,
                           now: datetime | None = None) -> PairProtection | None:
    """Called when an opportunity settles: trip its direction's protection
    when this close makes N unwinds or failures within the window. Runs in
    the settlement's transaction; returns the protection written, if any."""
    if status not in COUNTED:
        return None
    now = now or timezone.now()
    row = RiskSettings.load()
    limit = row.protection_max_failures
    if not limit:
        return None
    pair = {"market_id": opportunity.market_id, "buy_exchange_id": opportunity.buy_exchange_id,
            "sell_exchange_id": opportunity.sell_exchange_id}
    with transaction.atomic():
        # One protection per direction at a time: the opportunity's pair is locked
        # by its own settlement; two closes of one pair at once are serialised here.
        latest = (PairProtection.objects.select_for_update().filter(**pair)
                  .order_by("-started_at", "-id").first())
        if latest is not None and latest.until > now:
            return None
        since = now - timedelta(minutes=row.protection_window_minutes)
        if latest is not None:
            since = max(since, latest.started_at)
        counted = list(Opportunity.objects
                       .filter(**pair, status__in=COUNTED, closed_at__gte=since,
                               closed_at__lte=now)
                       .order_by("closed_at", "id").values_list("id", "status"))
        if len(counted) < limit:
            return None
        until = now + timedelta(minutes=row.protection_cooldown_minutes)
        unwound = sum(1 for _, s in counted if s == OpportunityStatus.UNWOUND)
        reason = (f"{len(counted)} round trips unwound or failed within "
                  f"{row.protection_window_minutes} min ({unwound} unwound, "
                  f"{len(counted) - unwound} failed; limit {limit}): "
                  f"paused for {row.protection_cooldown_minutes} min")
        protection = PairProtection.objects.create(
            **pair, reason=reason, opportunity_ids=[i for i, _ in counted],
            started_at=now, until=until)
        OpportunityEvent.objects.create(
            opportunity_id=opportunity.pk, from_status=status, to_status=status,
            source="protection",
            message=f"protection #{protection.pk} tripped: {reason}; until {moment(until)}")
    logger.warning("protection: %s %s→%s paused until %s: %s (opportunities %s)",
                   opportunity.market.code, opportunity.buy_exchange.name,
                   opportunity.sell_exchange.name, until.isoformat(), reason,
                   protection.opportunity_ids)
    return protection


def protection_end(*, protection_id: int, actor: str, reason: str,
                   now: datetime | None = None) -> bool:
    """End a protection in force now (an operator's confirmed action);
    False when it had already ended. Compare-and-set under a row lock."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    now = now or timezone.now()
    with transaction.atomic():
        row = PairProtection.objects.select_for_update().filter(pk=protection_id).first()
        if row is None:
            raise ValidationError(f"No protection #{protection_id}.")
        if row.until <= now:
            return False
        row.until = row.ended_at = now
        row.ended_by = actor
        row.ended_reason = reason
        row.save(update_fields=["until", "ended_at", "ended_by", "ended_reason"])
    logger.warning("protection #%s ended early by %s: %s", protection_id, actor, reason)
    return True
