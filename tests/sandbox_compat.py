"""Until the sandbox speaks the documented defaults, tell the adapters how it signs.

The sandbox of this branch (before w1-sandbox's rewrite) verifies Invex
signatures over compact, sorted JSON and reads ``expire_at`` as UTC: the
``compact`` and ``utc`` wire variants, which the docs allow but which are
not their most literal reading (the adapters' defaults). Once the sandbox
offers its variants (``exchanges/sandbox/variants.py``), it speaks the
defaults and this does nothing.
"""

from __future__ import annotations

import importlib.util

import pytest

LEGACY_SANDBOX_VARIANTS = {"invex": {"invex-signing": "compact", "invex-expire-tz": "utc"}}


def legacy_sandbox() -> bool:
    return importlib.util.find_spec("exchanges.sandbox.variants") is None


def sandbox_variants(kind: str) -> dict[str, str]:
    """The wire variants an adapter needs to talk to this branch's sandbox."""
    return dict(LEGACY_SANDBOX_VARIANTS.get(kind, {})) if legacy_sandbox() else {}


@pytest.fixture(scope="session", autouse=True)
def legacy_sandbox_variants():
    from django.conf import settings

    if not legacy_sandbox():
        yield
        return
    previous = getattr(settings, "EXCHANGE_WIRE_VARIANTS", None)
    settings.EXCHANGE_WIRE_VARIANTS = LEGACY_SANDBOX_VARIANTS
    yield
    settings.EXCHANGE_WIRE_VARIANTS = previous
