"""Where an exchange's base URL may point, and what counts as "the same host".

Credentials go wherever the base URL points, so the base URL is held to:

- ``https://`` with a host name (the real exchanges, a testnet, a proxy);
- or the project's own sandbox: ``http://`` on a loopback address
  (``127.0.0.1`` and the rest of 127/8, ``localhost``, ``::1``), or any URL
  on the origin of a configured sandbox (``EXCHANGE_SANDBOX_URL``);
- never with a user name or password in it, a query or a fragment.

Pure functions (no models, no settings), so the settings module can hold
the environment's base URLs to the same rule at start.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower case, with the port made
    explicit, so that two spellings of one host compare equal; "" for ""."""
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = 0
    return f"{scheme}://{host}:{port}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str, *, sandbox_urls: Iterable[str] = ()) -> str | None:
    """Why ``url`` may not be an exchange's base URL, or None if it may."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"{url!r} is not a valid URL"
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        return f"{url!r} is not an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "a base URL may not carry a user name or password"
    if parts.query or parts.fragment:
        return "a base URL may not have a query or a fragment"
    if scheme == "https":
        return None
    if _loopback(host) or url_origin(url) in {url_origin(s) for s in sandbox_urls if s}:
        return None
    return (f"{url!r}: only https:// URLs are accepted, or the sandbox (http:// on "
            "127.0.0.1 or localhost, or the configured EXCHANGE_SANDBOX_URL)")


def is_sandbox_url(url: str, *, sandbox_urls: Iterable[str] = ()) -> bool:
    """Is ``url`` the project's own sandbox (the one reading of it the base-URL
    rule above allows over plain http): an origin listed in
    ``EXCHANGE_SANDBOX_URL``, or ``http://`` on a loopback address?

    A real exchange is reached over https only, so an https URL is never the
    sandbox unless it is listed.
    """
    url = (url or "").strip()
    if not url:
        return False
    if url_origin(url) in {url_origin(s) for s in sandbox_urls if s}:
        return True
    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and _loopback((parts.hostname or "").lower())


def same_base_url(a: str, b: str) -> bool:
    """The same origin and path (a trailing slash aside): where a conformance
    check ran and where calls go now."""
    def norm(url: str) -> str:
        return url_origin(url) + urlsplit((url or "").strip()).path.rstrip("/")

    return bool((a or "").strip()) and norm(a) == norm(b)
