"""Named points of execution where the chaos test kills the worker.

``ARBSITE_KILL_AT=<point>`` makes the process SIGKILL itself when it
reaches that point (once per ``ARBSITE_KILL_ONCE_FILE`` when given, so the
restarted worker goes on). Unset, this costs one dictionary lookup.

The points, in the order a trade meets them (``POINTS``):

- ``before_orders_written``: claimed, nothing written (the transaction dies);
- ``after_orders_written``: both legs committed as ``pending_submit``, none sent;
- ``leg_sent``: one leg's place answered, nothing of it stored yet;
- ``leg_ambiguous``: a leg's answer lost, not yet marked ``unknown``;
- ``after_both_sent_before_stored``: both legs on the exchanges, no answer stored;
- ``after_both_sent``: both answers stored, before cancelling rests and settling;
- ``during_sync``: order sync has read the exchange and applied part of it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from django.conf import settings

POINTS = (
    "before_orders_written",
    "after_orders_written",
    "leg_sent",
    "leg_ambiguous",
    "after_both_sent_before_stored",
    "after_both_sent",
    "during_sync",
)


def reached(point: str) -> None:
    """SIGKILL this process if ``point`` is the configured kill point."""
    target = getattr(settings, "ARBSITE_KILL_AT", "")
    if not target or target != point:
        return
    once = getattr(settings, "ARBSITE_KILL_ONCE_FILE", "")
    if once:
        marker = Path(once)
        if marker.exists():
            return
        marker.write_text(point)
    os.kill(os.getpid(), signal.SIGKILL)
