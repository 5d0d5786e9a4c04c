"""What the control panel and reports read about alerts and capital."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Value, When

from trading.alerts.models import ACTIVE_STATES, Alert


def alerts_open(*, limit: int = 50) -> list[Alert]:
    """Active alerts, open before acknowledged, critical first, newest first."""
    severity_rank = Case(When(severity="critical", then=Value(0)),
                         When(severity="warning", then=Value(1)), default=Value(2),
                         output_field=IntegerField())
    state_rank = Case(When(state="open", then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    return list(Alert.objects.filter(state__in=ACTIVE_STATES)
                .select_related("acknowledged_by")
                .annotate(state_rank=state_rank, severity_rank=severity_rank)
                .order_by("state_rank", "severity_rank", "-last_seen_at")[:limit])


def capital_panel():
    from trading.services.budgets import exchange_capital

    return exchange_capital()
