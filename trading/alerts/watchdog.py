"""Who says that a worker or beat is missing: never the missing process.

- **Beat writes its own heartbeat** from its scheduler loop
  (``trading.alerts.beat.WatchedScheduler``, every tick): it proves the
  loop that schedules everything runs.
- **"Worker missing"** is raised by **beat** (the same scheduler, in a
  thread): the ``trading.heartbeat`` task it schedules every 10 s is run by
  a worker, so its age says whether any worker takes tasks. Beat does not
  run tasks, so it also delivers that alert itself, in its own process:
  with no worker, the delivery task would never run.
- **"Beat missing"** is raised by **every worker** (a bootstep's thread,
  ``BeatWatchdog``) from beat's own heartbeat; workers deliver it
  themselves too (a worker is alive, but its pool may be busy).
- **Both gone** (a host down): no background process is left, so the web
  process watches as the last resort: ``/healthz`` (which an uptime
  monitor polls, and which answers 503 meanwhile) runs both checks in a
  thread, at most every 30 s, and delivers inline.

One active alert per kind means several watchers only bump its count.
A watcher checks only after it has itself been up for the heartbeat's
maximum age, so a process starting before the others raises nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)

BEAT_HEARTBEAT_EVERY = 5.0
HEARTBEAT_TTL_SECONDS = 300
WEB_THROTTLE_SECONDS = 30

ROLES = {"worker": "worker_missing", "beat": "beat_missing"}
# What a missing process means and what to do (the alert and the health page).
MISSING_WHAT = {"worker": "no worker has run the heartbeat task",
                "beat": "beat has not written its heartbeat"}
MISSING_ADVICE = {
    "worker": "Start `celery -A arbsite worker`: nothing trades, syncs or delivers alerts.",
    "beat": "Start `celery -A arbsite beat` (exactly one): nothing is polled or scheduled.",
}


def watch_seconds() -> float:
    """How often the watchers look (``ARBSITE_WATCHDOG_SECONDS``, read by
    the settings; tests make it short)."""
    return float(settings.ARBSITE_WATCHDOG_SECONDS)


def beat_heartbeat_record(now: datetime | None = None) -> None:
    """Beat's own heartbeat (written by its scheduler loop)."""
    from django.utils import timezone

    from arbsite.redis import key, redis_client

    now = now or timezone.now()
    redis_client().set(key("heartbeat", "beat"), now.isoformat(), ex=HEARTBEAT_TTL_SECONDS)


def heartbeat_watch(*, role: str, watcher: str, deliver: bool = True,
                    now: datetime | None = None) -> bool:
    """Raise (or repeat) the alert that ``role`` is missing, or resolve it;
    deliver pending alerts in this process. Returns whether it is missing."""
    from django.utils import timezone

    from trading.alerts.checks import condition_since
    from trading.alerts.delivery import deliveries_send
    from trading.alerts.models import MonitorSettings
    from trading.alerts.services import alert_condition
    from trading.services.heartbeat import heartbeat_last

    now = now or timezone.now()
    max_age = MonitorSettings.load().heartbeat_max_age_seconds
    last = heartbeat_last(role=role)
    never = condition_since(f"no-heartbeat:{role}", last is None, now)
    since = last or never
    age = (now - since).total_seconds()
    missing = age > max_age
    what = MISSING_WHAT[role]
    alert_condition(
        active=missing, kind=ROLES[role], subject=f"process:{role}",
        title=f"{role.capitalize()} missing: {what} for {age:.0f} s",
        message=(f"Last heartbeat: {last:%Y-%m-%d %H:%M:%S} UTC. " if last else
                 "No heartbeat since this was first checked. ")
        + MISSING_ADVICE[role],
        details={"last_heartbeat": last.isoformat() if last else None, "seen_by": watcher},
        by=watcher, resolved_reason=f"{role} heartbeat fresh again")
    if deliver:
        deliveries_send()
    return missing


def _watch_safely(roles: tuple[str, ...], watcher: str) -> None:
    from django.db import connections

    try:
        for role in roles:
            heartbeat_watch(role=role, watcher=watcher)
    except Exception:
        logger.exception("watchdog (%s): heartbeat check failed", watcher)
    finally:
        connections.close_all()  # this thread's connections only


class _Watcher:
    """Runs the checks of ``roles`` in a thread, every ``watch_seconds()``, once
    the process has been up for the heartbeat's maximum age."""

    def __init__(self, roles: tuple[str, ...], watcher: str, grace: float) -> None:
        self.roles, self.watcher, self.grace = roles, watcher, grace
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"watchdog-{self.watcher}",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(watch_seconds()):
            if time.monotonic() - self.started >= self.grace:
                _watch_safely(self.roles, self.watcher)

    def stop(self) -> None:
        self.stopping.set()


def _grace() -> float:
    try:
        from trading.alerts.models import MonitorSettings

        return float(MonitorSettings.load().heartbeat_max_age_seconds)
    except Exception:  # no table yet (before migrate): the default
        return 60.0


class BeatWatchdog(bootsteps.StartStopStep):
    """The worker's bootstep: a thread that raises "beat missing"."""

    def __init__(self, worker, **kwargs) -> None:
        self.watcher: _Watcher | None = None

    def start(self, worker) -> None:
        import socket

        name = getattr(worker, "hostname", None) or socket.gethostname()
        self.watcher = _Watcher(("beat",), f"worker:{name}", _grace())
        self.watcher.start()

    def stop(self, worker) -> None:
        if self.watcher is not None:
            self.watcher.stop()


def web_heartbeat_watch() -> None:
    """From ``/healthz``: both checks in a thread, at most every 30 s
    across web processes; never slows or fails the request."""
    try:
        from arbsite.redis import key, redis_client

        if not redis_client().set(key("alerts", "web-watch"), "1", nx=True,
                                  ex=WEB_THROTTLE_SECONDS):
            return
    except Exception as exc:
        logger.warning("web watchdog: Redis unavailable: %s", exc)
        return
    threading.Thread(target=_watch_safely, args=(("worker", "beat"), "web"),
                     name="watchdog-web", daemon=True).start()
