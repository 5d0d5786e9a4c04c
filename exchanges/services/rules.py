"""Market rules and fee rates read from the exchanges onto the rows.

``exchange_rules_sync`` reads, per exchange, its published rules
(``adapter.market_rules()``: Nobitex ``GET /v2/options``, Wallex ``GET
/v1/markets``, Invex ``GET /trading/v1/markets``) and the account's fee
rates where the exchange gives them (``adapter.fee_rates()``: Wallex ``GET
/v1/account/fee``, Nobitex's profile; Invex documents none), through a
probe adapter (it neither trips nor spends trading's breaker and rate
budget). ``manage.py setup`` and the daily task ``exchanges.sync_market_rules``
run it.

- A listing's ``amount_step``, ``price_tick`` and ``min_order_value`` take
  the exchange's values, each change saved with its history (the source
  named as the change reason) — except where an operator set the value by
  hand and the exchange's would loosen it. Tighter means a larger minimum
  value, and a step or tick that is a multiple of the exchange's (a coarser
  grid on the exchange's own); the operator's value is kept and the
  report says so. An operator's value the exchange would refuse (a smaller
  minimum, a step off its grid) gives way: the exchange's minimum, or the
  least common multiple of both steps (on both grids, never looser than the
  operator's), and the report says that too.
- How "set by hand" is known: ``ExchangeMarket.operator_rules``, written
  by the admin when an operator saves a rule field
  (``operator_rules_mark``) and cleared there on request. A marker on the
  row rather than the history's last author: history can be trimmed, a
  ``queryset.update()`` or a data migration writes no history at all, and
  "the last author was a person" cannot tell an operator's tightening from
  one correcting a typo back to the exchange's value; the marker is one
  explicit, visible statement of intent, read without a history query.
- Fees are the exchange's truth: a rate read back that differs from the
  stored one is applied and recorded. ``Exchange`` holds one rate for all
  its markets; where the exchange gives several (per symbol, per quote),
  the highest among the enabled listings is stored, so detection never
  counts on a fee lower than a market really charges.
- A rule or fee that cannot be read (the endpoint fails, a listing is not
  in the answer, no credentials for the fees) leaves the row as it is and
  is reported (``RulesReport.problems``, ``Exchange.rules_read_problems``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from exchanges.errors import AuthenticationError, ExchangeError
from exchanges.markets import decimal_str
from exchanges.models import Exchange, ExchangeMarket
from exchanges.types import FeeRate, MarketRules

logger = logging.getLogger(__name__)

RULE_FIELDS = ("amount_step", "price_tick", "min_order_value")
SOURCES = {
    "nobitex": ("GET /v2/options", "GET /users/profile"),
    "wallex": ("GET /v1/markets", "GET /v1/account/fee"),
    "invex": ("GET /trading/v1/markets", ""),
}
HISTORY_REASON_MAX = 100


@dataclass
class RulesReport:
    exchange: str
    changed: list[str] = field(default_factory=list)  # what was applied
    kept: list[str] = field(default_factory=list)  # operator values kept
    problems: list[str] = field(default_factory=list)  # what could not be read
    unchanged: int = 0  # listings already as the exchange says

    def lines(self) -> list[str]:
        return ([f"{self.exchange}: {line}" for line in self.changed]
                + [f"{self.exchange}: kept {line}" for line in self.kept])


def _lcm(a: Decimal, b: Decimal) -> Decimal:
    places = max(-a.normalize().as_tuple().exponent, -b.normalize().as_tuple().exponent, 0)
    scale = Decimal(10) ** places
    return Decimal(math.lcm(int(a * scale), int(b * scale))) / scale


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return value >= step and (value / step) == (value / step).to_integral_value()


def rule_decide(field_name: str, stored: Decimal, published: Decimal,
                by_operator: bool) -> tuple[Decimal, str]:
    """The value a rule field takes, and why (``""``: the exchange's, plainly)."""
    if not by_operator or stored == published:
        return published, ""
    if field_name == "min_order_value":
        if stored >= published:
            return stored, "the operator's, tighter than the exchange's"
        return published, "the exchange's: the operator's was below its minimum"
    if _on_grid(stored, published):
        return stored, "the operator's, tighter than the exchange's"
    if stored < published:
        # A finer grid than the exchange's would be refused; the coarser of both.
        value = _lcm(stored, published)
        return value, "a multiple of both: the operator's is finer than the exchange's"
    return _lcm(stored, published), "a multiple of both: the operator's is off the exchange's grid"


def operator_rules_mark(*, listing: ExchangeMarket, fields: list[str], username: str) -> None:
    """Note on ``listing`` (not saved) that an operator set these rule fields."""
    marks = dict(listing.operator_rules or {})
    for name in fields:
        if name in RULE_FIELDS:
            marks[name] = {"value": decimal_str(getattr(listing, name)), "by": username,
                           "at": timezone.now().isoformat(timespec="seconds")}
    listing.operator_rules = marks


def operator_rules_release(*, listing: ExchangeMarket, fields: list[str]) -> list[str]:
    """Forget the operator's markers on these fields (not saved): the
    exchange's rules apply to them again. Returns those released."""
    marks = dict(listing.operator_rules or {})
    released = [name for name in fields if marks.pop(name, None) is not None]
    listing.operator_rules = marks
    return released


def _listing_apply(listing: ExchangeMarket, rule: MarketRules, source: str,
                   report: RulesReport) -> None:
    marks = dict(listing.operator_rules or {})
    changes, kept = [], []
    for name in RULE_FIELDS:
        published = getattr(rule, name)
        if published is None:
            report.problems.append(f"{listing.symbol}: {name} not in the answer; left as is")
            continue
        if published <= 0 and name != "min_order_value":
            report.problems.append(f"{listing.symbol}: {name} {published} is not a rule")
            continue
        stored = getattr(listing, name)
        value, why = rule_decide(name, stored, published, name in marks)
        if value == stored:
            if why:
                kept.append(f"{listing.symbol} {name} {decimal_str(stored)} ({why}; the "
                            f"exchange says {decimal_str(published)})")
            continue
        setattr(listing, name, value)
        changes.append(f"{name} {decimal_str(stored)} → {decimal_str(value)}"
                       + (f" ({why})" if why else ""))
        if name in marks:
            if value == published:
                marks.pop(name)  # the exchange's own value now: no longer the operator's
            else:
                marks[name] = {**marks[name], "value": decimal_str(value)}
    report.kept.extend(kept)
    if not changes:
        report.unchanged += 1
        return
    listing.operator_rules = marks
    listing.rules_read_at = timezone.now()
    listing._change_reason = f"rules from {source}: {'; '.join(changes)}"[:HISTORY_REASON_MAX]
    listing.save()
    report.changed.append(f"{listing.symbol}: " + "; ".join(changes) + f" (from {source})")


def _fee_apply(exchange: Exchange, rates: dict[str, FeeRate], source: str,
               report: RulesReport) -> None:
    listings = list(ExchangeMarket.objects.filter(exchange=exchange, enabled=True))
    takers, makers, missing = [], [], []
    for listing in listings:
        rate = rates.get(listing.symbol) or rates.get(listing.symbol.upper()) or rates.get("*")
        if rate is None:
            missing.append(listing.symbol)
            continue
        if rate.taker is not None:
            takers.append(rate.taker)
        if rate.maker is not None:
            makers.append(rate.maker)
    if missing:
        report.problems.append(f"fee rates: none for {', '.join(missing)}")
    changes = []
    for name, values in (("taker_fee", takers), ("maker_fee", makers)):
        if not values:
            continue
        value = max(values)
        if not Decimal(0) <= value < 1:
            report.problems.append(f"fee rates: {name} {value} is not a rate")
            continue
        stored = getattr(exchange, name)
        if value != stored:
            setattr(exchange, name, value)
            changes.append(f"{name} {decimal_str(stored)} → {decimal_str(value)}")
    if changes:
        exchange._change_reason = (f"fee rates from {source}: "
                                   f"{'; '.join(changes)}")[:HISTORY_REASON_MAX]
        exchange.save()
        report.changed.append("; ".join(changes) + f" (from {source})")


def exchange_rules_sync_one(*, exchange: Exchange) -> RulesReport:
    """Read one exchange's rules and fees onto its rows (see the module docstring)."""
    from exchanges.credentials import api_key_note
    from exchanges.registry import build_adapter, config_for

    report = RulesReport(exchange.name)
    rules_source, fee_source = SOURCES.get(exchange.adapter, ("rules", "fees"))
    try:
        # A probe (no shared breaker, a budget of its own), asking once: a
        # read that fails is reported and read again at the next run.
        adapter = build_adapter(exchange.adapter,
                                replace(config_for(exchange, probe=True), read_retries=0))
    except ExchangeError as exc:
        report.problems.append(f"not asked: {exc}")
        _note(exchange, report)
        return report
    try:
        api_key_note(exchange=exchange)
        try:
            rules = {symbol.upper(): rule for symbol, rule in adapter.market_rules().items()}
        except ExchangeError as exc:
            report.problems.append(f"rules not read ({rules_source}): {exc}")
            rules = None
        if rules is not None:
            read = []
            with transaction.atomic():
                for listing in (ExchangeMarket.objects.select_for_update()
                                .filter(exchange=exchange).order_by("pk")):
                    rule = rules.get(listing.symbol.upper())
                    if rule is None:
                        report.problems.append(f"{listing.symbol}: not in {rules_source}; "
                                               "its rules left as they are")
                        continue
                    _listing_apply(listing, rule, f"{exchange.name} {rules_source}", report)
                    read.append(listing.pk)
                ExchangeMarket.objects.filter(pk__in=read).update(rules_read_at=timezone.now())
        if fee_source:
            try:
                rates = adapter.fee_rates()
            except AuthenticationError as exc:
                report.problems.append(f"fee rates not read ({fee_source}): {exc}")
                rates = {}
            except ExchangeError as exc:
                report.problems.append(f"fee rates not read ({fee_source}): {exc}")
                rates = {}
            if rates:
                with transaction.atomic():
                    row = Exchange.objects.select_for_update().get(pk=exchange.pk)
                    _fee_apply(row, rates, f"{exchange.name} {fee_source}", report)
    finally:
        adapter.close()
    _note(exchange, report)
    return report


def _note(exchange: Exchange, report: RulesReport) -> None:
    """When the rules were last read and what could not be: ``update()``, no
    history row for a read that changed nothing."""
    Exchange.objects.filter(pk=exchange.pk).update(
        rules_read_at=timezone.now(), rules_read_problems="\n".join(report.problems))
    for line in report.lines():
        logger.warning("exchange rules: %s", line)
    for problem in report.problems:
        logger.warning("exchange rules: %s: %s", exchange.name, problem)


def exchange_rules_sync(*, exchange_names: list[str] | None = None) -> list[RulesReport]:
    """``exchange_rules_sync_one`` for every enabled exchange (or those named)."""
    rows = Exchange.objects.filter(enabled=True).order_by("name")
    if exchange_names:
        rows = Exchange.objects.filter(name__in=exchange_names).order_by("name")
    return [exchange_rules_sync_one(exchange=row) for row in rows]
