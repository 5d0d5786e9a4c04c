"""Order books over the exchanges' websockets: Nobitex (Centrifugo) and Wallex.

Invex documents no websocket and stays polled. A stream is built with the
listings to follow (``MarketSpec``s, the same the REST adapter uses, so units
are converted by one piece of code), a REST snapshot function, and a callback
that receives every ``BookUpdate``; see ``client.BookStream``.

The URLs are the documented hosts unless the environment says otherwise
(``NOBITEX_WS_URL``, ``WALLEX_WS_URL``; read by ``arbsite.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .client import BookStream, BookUpdate, StreamSettings, StreamStats
from .nobitex import NobitexStream
from .wallex import MAX_AGE_SECONDS, WallexStream


@dataclass(frozen=True)
class StreamDefaults:
    stream: type[BookStream]
    url: str
    url_env: str
    settings: dict


# Nobitex's docs name wss://wss.nobitex.ir/connection/websocket (both editions of
# _websocket.md); older notes and third-party clients use ws.nobitex.ir [?].
STREAMS: dict[str, StreamDefaults] = {
    "nobitex": StreamDefaults(
        NobitexStream, "wss://wss.nobitex.ir/connection/websocket", "NOBITEX_WS_URL",
        {"silence_limit": 35.0},  # the server pings every 25 s (Centrifugo's default)
    ),
    "wallex": StreamDefaults(
        WallexStream, "wss://api.wallex.ir/ws", "WALLEX_WS_URL",
        # Pushes come only on change; its pings are protocol-level, every 20 s: two
        # missed and the connection is dead.
        {"silence_limit": 45.0, "max_age": float(MAX_AGE_SECONDS)},
    ),
}

__all__ = ["STREAMS", "BookStream", "BookUpdate", "StreamSettings", "StreamStats",
           "NobitexStream", "WallexStream"]
