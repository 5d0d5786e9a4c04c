"""Liveness of the background processes, kept in Redis."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime

from django.utils import timezone

from arbsite.redis import key, redis_client

logger = logging.getLogger(__name__)

HEARTBEAT_TTL_SECONDS = 300


def heartbeat_record(*, role: str = "worker") -> datetime:
    """Store the time of this beat-scheduled run; return it."""
    now = timezone.now()
    redis_client().set(key("heartbeat", role), now.isoformat(), ex=HEARTBEAT_TTL_SECONDS)
    logger.info("heartbeat: beat scheduled and %s %s:%s ran it", role, socket.gethostname(),
                os.getpid())
    return now


def heartbeat_last(*, role: str = "worker") -> datetime | None:
    value = redis_client().get(key("heartbeat", role))
    return datetime.fromisoformat(value) if value else None


# The heartbeat runs every 10 s; three missed beats mean beat or the worker is gone.
HEARTBEAT_FRESH_SECONDS = 60.0


def heartbeat_fresh(*, role: str = "worker",
                    max_age: float = HEARTBEAT_FRESH_SECONDS) -> float | None:
    """The age in seconds of ``role``'s last heartbeat when it is at most
    ``max_age`` old (the process is running), else None."""
    last = heartbeat_last(role=role)
    if last is None:
        return None
    age = (timezone.now() - last).total_seconds()
    return age if age <= max_age else None
