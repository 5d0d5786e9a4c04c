"""The sandbox's websocket side: Nobitex's Centrifugo protocol and Wallex's depth
channels, pushing every change of the sandbox's books (WIRE.md, "WebSocket streams")."""

from .control import handle_stream_control
from .server import StreamServer

__all__ = ["StreamServer", "handle_stream_control"]
