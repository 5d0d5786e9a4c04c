"""The offline exchange sandbox: Nobitex, Wallex and Invex wire formats over real HTTP.

Independent of ``exchanges.adapters`` by design, so an adapter's mistake is not mirrored.
See WIRE.md for every endpoint, payload and error the sandbox serves.
"""

from .accounts import SandboxAccount
from .server import SandboxServer

__all__ = ["SandboxAccount", "SandboxServer"]
