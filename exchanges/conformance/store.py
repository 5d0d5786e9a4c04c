"""Recording a conformance run, and an operator's override of the gate.

``conformance_record`` writes the run (``ConformanceRun``: every row of the
table) and its result on the Exchange row, which the gate reads; with
``apply`` it also stores the variants the exchange was seen to speak on
``Exchange.wire_variants``. Both go through ``save()``, so the row's
history (django-simple-history) says who, when and why.

``conformance_override_set`` / ``_clear``: an operator lets an exchange
trade without a passed check (or stops letting it), with a reason, for the
base URL in force; the admin's confirmation page calls them, behind the
``exchanges.override_conformance`` permission.
"""

from __future__ import annotations

import logging

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from exchanges.models import ConformanceRun, Exchange
from exchanges.services.base_url import effective_base_url
from exchanges.variants import validate_variants, variant_value

from .report import ConformanceReport

logger = logging.getLogger(__name__)

HISTORY_REASON_MAX = 100  # simple-history's history_change_reason


def conformance_record(*, exchange_id: int, report: ConformanceReport, actor: str,
                       user: AbstractBaseUser | None = None) -> ConformanceRun:
    """Store ``report``: the run, the Exchange row's result, and with
    ``report.applied`` the observed wire variants. One transaction."""
    with transaction.atomic():
        row = Exchange.objects.select_for_update().get(pk=exchange_id)
        before = dict(row.wire_variants or {})
        changed_variants = {}
        if report.applied and report.observed:
            observed = validate_variants(row.adapter, report.observed)
            row.wire_variants = {**before, **observed}
            # What changes in effect: a reading other than the one in force.
            changed_variants = {k: v for k, v in observed.items()
                                if variant_value(row.adapter, report.configured, k) != v}
        result = (ConformanceRun.Result.PASSED if report.passed
                  else ConformanceRun.Result.FAILED)
        row.conformance_state = (Exchange.Conformance.PASSED if report.passed
                                 else Exchange.Conformance.FAILED)
        row.conformance_checked_at = report.finished_at or timezone.now()
        row.conformance_base_url = report.base_url
        row.conformance_failed = report.failed_summary()
        reason = f"conformance check {result}"
        if changed_variants:
            reason += ", variants now " + ", ".join(f"{k}={v}" for k, v in
                                                    sorted(changed_variants.items()))
        elif report.applied and report.observed:
            reason += ", observed variants stored"
        row._change_reason = f"{reason} ({actor})"[:HISTORY_REASON_MAX]
        if user is not None:
            row._history_user = user
        row.save()
        run = ConformanceRun.objects.create(
            exchange=row, started_at=report.started_at,
            finished_at=report.finished_at or timezone.now(), base_url=report.base_url,
            result=result, failed=row.conformance_failed,
            test_order=report.test_order is not None and report.test_order.sent,
            applied=report.applied, observed_variants=report.observed,
            variants_before=before, rows=[r.as_json() for r in report.rows], actor=actor,
        )
    log = logger.info if report.passed else logger.warning
    log("exchange %s: conformance check %s against %s (%s)%s", row.name, result,
        report.base_url, actor, f"; variants stored: {changed_variants}" if changed_variants
        else "")
    return run


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    return reason


def conformance_override_set(*, exchange_id: int, user: AbstractBaseUser,
                             reason: str) -> bool:
    """Let the exchange trade at its current base URL without a passed check.
    False if an override for that URL is already in force."""
    reason = _require_reason(reason)
    with transaction.atomic():
        row = Exchange.objects.select_for_update().get(pk=exchange_id)
        url = effective_base_url(row)
        if row.conformance_override_at is not None and row.conformance_override_base_url == url:
            return False
        row.conformance_override_by = user.get_username()
        row.conformance_override_at = timezone.now()
        row.conformance_override_reason = reason
        row.conformance_override_base_url = url
        row._history_user = user
        row._change_reason = f"conformance gate overridden: {reason}"[:HISTORY_REASON_MAX]
        row.save()
    logger.warning("exchange %s: conformance gate OVERRIDDEN for %s by %s: %s", row.name, url,
                   user.get_username(), reason)
    return True


def conformance_override_clear(*, exchange_id: int, user: AbstractBaseUser,
                               reason: str) -> bool:
    """Withdraw the override; False if there was none."""
    reason = _require_reason(reason)
    with transaction.atomic():
        row = Exchange.objects.select_for_update().get(pk=exchange_id)
        if row.conformance_override_at is None:
            return False
        row.conformance_override_by = row.conformance_override_reason = ""
        row.conformance_override_base_url = ""
        row.conformance_override_at = None
        row._history_user = user
        row._change_reason = f"conformance override withdrawn: {reason}"[:HISTORY_REASON_MAX]
        row.save()
    logger.warning("exchange %s: conformance override withdrawn by %s: %s", row.name,
                   user.get_username(), reason)
    return True
