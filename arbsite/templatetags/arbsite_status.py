"""Status of project-wide processes for admin templates: ``{% load arbsite_status %}``."""

from __future__ import annotations

import logging

from django import template

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag
def beat_lease() -> dict[str, str]:
    """Which beat holds the lease and the last refused one (arbsite/beat.py);
    ``{"error": …}`` when Redis cannot say."""
    from arbsite.beat import beat_lease_status

    try:
        return beat_lease_status()
    except Exception as exc:  # Redis down: the panel still renders
        logger.warning("control panel: beat lease unavailable: %s", exc)
        return {"error": "unavailable (Redis)"}
