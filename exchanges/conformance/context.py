"""What every probe of one conformance run shares: the exchange row, its
probe adapters, the report being written, and how a variant is judged."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from exchanges.http import Call, RawAnswer
from exchanges.interface import AdapterConfig, ExchangeAdapter
from exchanges.models import Exchange
from exchanges.registry import build_adapter
from exchanges.variants import VARIANTS, variant_value

from .report import ConformanceReport, PointResult, Verdict

logger = logging.getLogger(__name__)

# Variants that may stay unsettled without harm: their default is safe
# whichever reading the exchange speaks (why, in the table).
SAFE_UNSETTLED = {
    "nobitex-page-size": "pages of 100 are within both caps",
    "nobitex-total-price": "an impossible average is refused; P&L comes from the fills",
    "wallex-balance-value": "read as the total, balances can read low, never high",
}


# What each variant is about, for the table's "what we assume" column (the
# full reading of each value is ``exchanges.variants``' doc).
WHAT = {
    "nobitex-not-found": "the status of an unknown clientOrderId",
    "nobitex-details-client-id": "details=2 rows carry clientOrderId",
    "nobitex-page-size": "the cap on pageSize",
    "nobitex-total-price": "what totalPrice is",
    "nobitex-duplicate-order": "what DuplicateOrder compares",
    "nobitex-decimals": "how decimals are written",
    "wallex-client-id": "the client_id rule",
    "wallex-open-orders": "the shape of order lists",
    "wallex-cancel": "the form of a cancel",
    "wallex-numbers": "numbers in depth and rules",
    "wallex-partial-status": "the status of a partly filled order",
    "wallex-finished": "where FINISHED appears",
    "wallex-balance-value": "what a balance's value holds",
    "invex-signing": "the bytes that are signed",
    "invex-expire-tz": "expire_at's time zone",
    "invex-order-fields": "the create-order field names",
    "invex-symbol": "symbol in answers",
}


def assumed(name: str, value: str) -> str:
    return f"{value} ({WHAT.get(name, name)})"


def snippet(answer: RawAnswer | Any, limit: int = 160) -> str:
    """An answer in a table cell: ``HTTP 404 {"detail": "Not found."}``."""
    if isinstance(answer, RawAnswer):
        body = answer.text.strip()
        try:
            body = json.dumps(answer.body, ensure_ascii=False, default=str) if answer.is_json \
                else body
        except (TypeError, ValueError):
            pass
        text = f"HTTP {answer.status} {body}"
    else:
        text = str(answer)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class Probe:
    """One run's shared state. ``step(name)`` announces what is done next
    (the command prints it; a test may act on it)."""

    exchange: Exchange
    config: AdapterConfig  # the probe configuration (registry.config_for(probe=True))
    report: ConformanceReport
    apply: bool = False
    observer: Callable[[str], None] | None = None
    current_step: str = ""
    _adapters: dict[str, ExchangeAdapter] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.exchange.adapter

    def step(self, name: str) -> None:
        self.current_step = name
        logger.info("%s conformance: %s", self.exchange.name, name)
        if self.observer is not None:
            self.observer(name)

    def guarded(self, name: str, probe: Callable[[Probe], None]) -> None:
        """Run one probe as step ``name``; an exchange that cannot be asked is
        an ``error`` row, and the next probe still runs."""
        from exchanges.errors import ExchangeError

        self.step(name)
        try:
            probe(self)
        except ExchangeError as exc:
            logger.warning("%s conformance: %s: %s", self.exchange.name, name, exc)
            self.row(name, "answered", f"{type(exc).__name__}: {exc}"[:300], Verdict.ERROR)

    # -- adapters -------------------------------------------------------------------

    def variants_now(self) -> dict[str, str]:
        """The configured variants, with what this run observed over them."""
        return {**self.report.configured, **self.report.observed}

    def adapter(self, **variants: str) -> ExchangeAdapter:
        """A probe adapter speaking the variants seen so far (and ``variants``)."""
        wanted = {**self.variants_now(), **{k.replace("_", "-"): v for k, v in variants.items()}}
        key = json.dumps(wanted, sort_keys=True)
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = build_adapter(self.kind, replace(self.config, variants=wanted))
            self._adapters[key] = adapter
        return adapter

    def raw(self, call: Call, **variants: str) -> RawAnswer:
        return self.adapter(**variants).send_raw(call)

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()

    # -- rows ----------------------------------------------------------------------

    def row(self, point: str, assumed: str, answered: str, verdict: Verdict) -> PointResult:
        return self.report.add(PointResult(point, assumed, answered, verdict))

    def configured(self, name: str) -> str:
        return variant_value(self.kind, self.report.configured, name)

    def variant(self, name: str, value: str, answered: str) -> PointResult:
        """The exchange was seen to speak ``name=value``."""
        variant = VARIANTS[name]
        configured = self.configured(name)
        assumption = assumed(name, configured)
        if value == configured:
            verdict = Verdict.PASS
        elif not variant.used:
            verdict, answered = Verdict.PASS, f"{answered} (read either way)"
        elif self.apply:
            verdict = Verdict.APPLIED
        else:
            verdict = Verdict.FAIL
            answered = f"{answered}; configured {configured}: run with --apply to store {value}"
        return self.report.add(PointResult(name, assumption, answered, verdict, name, value))

    def unsettled(self, name: str, why: str) -> PointResult:
        """``name`` could not be observed in this run."""
        variant = VARIANTS[name]
        configured = self.configured(name)
        if not variant.used:
            verdict, why = Verdict.EITHER, f"{why}; read either way"
        elif name in SAFE_UNSETTLED:
            verdict, why = Verdict.EITHER, f"{why}; {SAFE_UNSETTLED[name]}"
        else:
            verdict = Verdict.OPEN
        return self.report.add(PointResult(name, assumed(name, configured), why, verdict, name,
                                           None))
