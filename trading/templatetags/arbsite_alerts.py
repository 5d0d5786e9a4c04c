"""The control panel's alerts and capital sections (an inclusion tag, so
the panel's view stays as it is)."""

from __future__ import annotations

import logging

from django import template

register = template.Library()
logger = logging.getLogger(__name__)


@register.inclusion_tag("admin/alerts/panel_alerts.html", takes_context=True)
def alerts_panel(context: template.Context) -> dict:
    from trading.alerts.selectors import alerts_open, capital_panel

    request = context.get("request")
    user = getattr(request, "user", None)
    try:
        capital = capital_panel()
    except Exception as exc:  # Redis down: the panel still renders
        logger.warning("control panel: capital unavailable: %s", exc)
        capital = []
    return {
        "alerts": alerts_open(),
        "capital": capital,
        "can_ack": bool(user and user.has_perm("trading.can_acknowledge_alerts")),
        "next": request.get_full_path() if request else "",
    }
