"""One Redis connection pool per process, from settings.REDIS_URL.

Used for everything shared between processes that is not the database:
locks, heartbeats, the latest order books, rate limits and breakers.
"""

from __future__ import annotations

import os
import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_client() -> redis.Redis:
    """A client on this process's pool (a new pool after fork)."""
    key = (os.getpid(), settings.REDIS_URL)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = redis.Redis.from_url(
                    settings.REDIS_URL,
                    decode_responses=True,
                    socket_timeout=5,
                    socket_connect_timeout=2,
                    health_check_interval=30,
                )
                _clients[key] = client
    return client


def key(*parts: str) -> str:
    """A namespaced Redis key: ``arbsite:<prefix>:a:b``.

    ``REDIS_KEY_PREFIX`` lets tests and several deployments share a server.
    """
    prefix = getattr(settings, "REDIS_KEY_PREFIX", "arbsite")
    return ":".join((prefix, *parts))
