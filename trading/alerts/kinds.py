"""The alert vocabulary: kinds, severities and what each message says."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


def amount_text(value: Decimal, asset: str, *, sign: bool = False) -> str:
    """An amount as an operator reads it: whole rial with thousands
    separators; other assets with their significant decimals only."""
    if asset.upper() in ("IRR", "RLS"):
        text = f"{value.quantize(Decimal('1')):{'+' if sign else ''},}"
    else:
        normal = value.normalize()
        text = f"{normal:{'+' if sign else ''}f}" if normal != 0 else "0"
    return f"{text} {asset}"


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_RANK[Severity(severity)] >= SEVERITY_RANK[Severity(minimum)]


class AlertKind(models.TextChoices):
    KILL_SWITCH = "kill_switch", "kill switch tripped"
    DAILY_LOSS_WARNING = "daily_loss_warning", "daily loss near its limit"
    BREAKER_OPEN = "breaker_open", "circuit breaker open"
    BOOKS_STALE = "books_stale", "books stale"
    ORDER_STUCK = "order_stuck", "order unknown or pending too long"
    UNWIND_EXECUTED = "unwind_executed", "unwind executed"
    RECOVERY_INCOMPLETE = "recovery_incomplete", "recovery incomplete"
    WORKER_MISSING = "worker_missing", "no worker runs tasks"
    BEAT_MISSING = "beat_missing", "beat is not scheduling"
    LEDGER_MISMATCH = "ledger_mismatch", "ledger mismatch"
    OVER_BUDGET = "over_budget", "capital budget exceeded"
    EXCHANGE_DOWN = "exchange_down", "exchange down"
    CONFORMANCE_FAILING = "conformance_failing", "conformance check failing"
    API_KEY_EXPIRY = "api_key_expiry", "API key close to expiry"
    LOCK_TAKEN_OVER = "lock_taken_over", "a lock taken over by force"


DEFAULT_SEVERITY: dict[str, str] = {
    AlertKind.KILL_SWITCH: Severity.CRITICAL,
    AlertKind.DAILY_LOSS_WARNING: Severity.WARNING,
    AlertKind.BREAKER_OPEN: Severity.WARNING,
    AlertKind.BOOKS_STALE: Severity.WARNING,
    AlertKind.ORDER_STUCK: Severity.WARNING,
    AlertKind.UNWIND_EXECUTED: Severity.WARNING,
    AlertKind.RECOVERY_INCOMPLETE: Severity.WARNING,
    AlertKind.WORKER_MISSING: Severity.CRITICAL,
    AlertKind.BEAT_MISSING: Severity.CRITICAL,
    AlertKind.LEDGER_MISMATCH: Severity.CRITICAL,
    AlertKind.OVER_BUDGET: Severity.WARNING,
    AlertKind.EXCHANGE_DOWN: Severity.CRITICAL,
    AlertKind.CONFORMANCE_FAILING: Severity.CRITICAL,
    AlertKind.API_KEY_EXPIRY: Severity.WARNING,
    AlertKind.LOCK_TAKEN_OVER: Severity.WARNING,
}

# Kinds that record one event (an unwind) rather than a condition that ends
# by itself: they stay open until an operator acknowledges or resolves them.
EVENT_KINDS = frozenset({AlertKind.UNWIND_EXECUTED, AlertKind.LOCK_TAKEN_OVER})


class MessageKind(models.TextChoices):
    RAISED = "raised", "raised"
    REMINDER = "reminder", "reminder"
    RESOLVED = "resolved", "resolved"
    SUMMARY = "summary", "daily summary"
    TEST = "test", "test"
