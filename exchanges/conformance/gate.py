"""The trading gate: may this exchange place new orders, as far as conformance goes?

An exchange whose base URL is not the project's own sandbox
(``exchanges.hosts.is_sandbox_url``) places no new order until its
conformance check passed against that very base URL, or an operator
overrode the gate for it (a reason, its own permission:
``exchanges.override_conformance``). A pass or an override given for
another base URL does not count: pointing an exchange elsewhere needs a
new check. ``ARBSITE_CONFORMANCE_REQUIRED=false`` switches the gate off (a
test deployment): said loudly at start (``exchanges.apps``) and on the
control panel.

``conformance_blocker(exchange)`` is the one rule detection and execution
call: a reason, or None. It reads the Exchange row only (no query).
Sync, recovery and unwinds are not gated: orders already placed are always
followed and positions always closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from exchanges.hosts import is_sandbox_url, same_base_url
from exchanges.models import Exchange
from exchanges.services.base_url import effective_base_url

SANDBOX = "sandbox"
PASSED = "passed"
OVERRIDDEN = "overridden"
FAILED = "failed"
NEVER = "never"
ELSEWHERE = "elsewhere"  # checked (or overridden) for another base URL


def conformance_required() -> bool:
    return bool(getattr(settings, "ARBSITE_CONFORMANCE_REQUIRED", True))


@dataclass(frozen=True)
class ConformanceState:
    """What the control panel and /healthz show of one exchange's check."""

    state: str  # SANDBOX, PASSED, OVERRIDDEN, FAILED, NEVER, ELSEWHERE
    label: str
    allowed: bool  # the gate lets it trade (or the gate is off)
    at: datetime | None = None
    point: str = ""  # the failed point(s), for FAILED
    required: bool = True  # the gate is on

    def as_json(self) -> dict:
        return {"state": self.state, "label": self.label, "allowed": self.allowed,
                "at": self.at.isoformat() if self.at else None, "point": self.point or None}


def conformance_state(exchange: Exchange) -> ConformanceState:
    required = conformance_required()
    url = effective_base_url(exchange)
    checked = exchange.conformance_checked_at
    here = same_base_url(exchange.conformance_base_url, url)
    if is_sandbox_url(url, sandbox_urls=getattr(settings, "EXCHANGE_SANDBOX_URLS", [])):
        label = "not needed: the project's sandbox"
        if here and checked is not None:
            label += f" (last check {exchange.conformance_state} at {checked:%Y-%m-%d %H:%M} UTC)"
        return ConformanceState(SANDBOX, label, True, checked, required=required)
    state: ConformanceState
    if exchange.conformance_state == Exchange.Conformance.PASSED and here:
        state = ConformanceState(PASSED, f"passed at {checked:%Y-%m-%d %H:%M} UTC", True, checked)
    elif (exchange.conformance_override_at is not None
          and same_base_url(exchange.conformance_override_base_url, url)):
        state = ConformanceState(
            OVERRIDDEN,
            f"overridden by {exchange.conformance_override_by} at "
            f"{exchange.conformance_override_at:%Y-%m-%d %H:%M} UTC: "
            f"“{exchange.conformance_override_reason}”",
            True, exchange.conformance_override_at, exchange.conformance_failed)
    elif exchange.conformance_state == Exchange.Conformance.FAILED and here:
        first = exchange.conformance_failed.splitlines()[0] if exchange.conformance_failed else ""
        state = ConformanceState(FAILED, f"failed at {checked:%Y-%m-%d %H:%M} UTC: {first}",
                                 False, checked, exchange.conformance_failed)
    elif exchange.conformance_state != Exchange.Conformance.NEVER:
        state = ConformanceState(
            ELSEWHERE, f"checked against {exchange.conformance_base_url}, not {url}: "
                       "check again", False, checked)
    else:
        state = ConformanceState(NEVER, "never checked", False)
    if not required:
        return ConformanceState(state.state, f"{state.label} (gate off)", True, state.at,
                                state.point, required=False)
    return state


def conformance_blocker(exchange: Exchange) -> str | None:
    """Why ``exchange`` may not place new orders (conformance), or None."""
    if not conformance_required():
        return None
    state = conformance_state(exchange)
    if state.allowed:
        return None
    return (f"{exchange.name}: conformance check {state.label} "
            f"(manage.py exchange {exchange.name} conformance)")
