"""Beat's scheduler: django-celery-beat's behind the beat lease
(arbsite/beat.py), plus beat's own heartbeat and the watch for a missing
worker (see ``trading.alerts.watchdog``).

Set as ``CELERY_BEAT_SCHEDULER``; loaded by beat only (it imports the
database scheduler, which needs Django set up).
"""

from __future__ import annotations

import logging
import threading
import time

from arbsite.beat import LeasedDatabaseScheduler
from trading.alerts import watchdog

logger = logging.getLogger(__name__)


class WatchedScheduler(LeasedDatabaseScheduler):
    """Every tick of the scheduling loop writes beat's heartbeat; every
    ``watchdog.watch_seconds()`` a thread checks that a worker runs tasks (and delivers
    what is pending, since no worker may be there to do it)."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._started = time.monotonic()
        self._last_beat = 0.0
        self._last_watch = 0.0
        self._grace = watchdog._grace()
        self._watch_thread: threading.Thread | None = None

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        now = time.monotonic()
        try:
            if now - self._last_beat >= watchdog.BEAT_HEARTBEAT_EVERY:
                watchdog.beat_heartbeat_record()
                self._last_beat = now
        except Exception as exc:  # Redis down: beat keeps scheduling
            logger.warning("beat heartbeat not written: %s", exc)
        if (now - self._last_watch >= watchdog.watch_seconds()
                and now - self._started >= self._grace
                and (self._watch_thread is None or not self._watch_thread.is_alive())):
            self._last_watch = now
            self._watch_thread = threading.Thread(
                target=watchdog._watch_safely, args=(("worker",), "beat"),
                name="watchdog-beat", daemon=True)
            self._watch_thread.start()
        return min(interval, watchdog.BEAT_HEARTBEAT_EVERY)
