"""The client's address, as far as the proxies in front of Django can be trusted.

With ``TRUSTED_PROXY_COUNT = 0`` (the default) the client is the peer of
the connection (``REMOTE_ADDR``) and any forwarding header is ignored, as a
client can write it. Behind N reverse proxies that each append the address
they saw to ``TRUSTED_PROXY_HEADER`` (``X-Forwarded-For`` by default), the
client is the N-th address from the right of ``header + [REMOTE_ADDR]``: the
one the outermost trusted proxy saw. Whatever a client prepends to the
header lies further left and is never used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _address(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address (see the module docstring), or None."""
    peer = request.META.get("REMOTE_ADDR", "")
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if count <= 0:
        return _address(peer)
    header = request.META.get(_meta_key(getattr(settings, "TRUSTED_PROXY_HEADER",
                                                "X-Forwarded-For")), "")
    chain = [part for part in header.split(",") if part.strip()] + [peer]
    # Fewer hops than proxies: the request skipped a proxy; take the farthest seen.
    chosen = chain[-(count + 1)] if len(chain) > count else chain[0]
    return _address(chosen) or _address(peer)
