"""Named points of execution where the chaos test kills the worker.

``ARBSITE_KILL_AT=<point>`` makes the process SIGKILL itself when it
reaches that point (once per ``ARBSITE_KILL_ONCE_FILE`` when given, so the
restarted worker goes on). Unset, this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def reached(point: str) -> None:
    target = os.environ.get("ARBSITE_KILL_AT")
    if not target or target != point:
        return
    once = os.environ.get("ARBSITE_KILL_ONCE_FILE")
    if once:
        marker = Path(once)
        if marker.exists():
            return
        marker.write_text(point)
    os.kill(os.getpid(), signal.SIGKILL)
