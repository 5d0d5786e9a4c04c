"""One conformance run against one exchange, as an operator runs it on a new
deployment before trading (``manage.py exchange NAME conformance``).

Order of the run: the public book (the host answers), the account (the
credentials; Invex's come with its signing probe), the exchange's own open
points (``nobitex.py``, ``wallex.py``, ``invex.py``), the rules and fee
endpoints; then, only when asked and confirmed, the test order
(``testorder.py``). Every call goes through probe adapters
(``registry.config_for(probe=True)``): no shared breaker, a budget of their
own, so the check neither trips nor spends what trading needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from django.utils import timezone

from exchanges.errors import AuthenticationError, ExchangeError
from exchanges.markets import decimal_str
from exchanges.models import Exchange, ExchangeMarket
from exchanges.registry import config_for, wire_variants
from exchanges.services.base_url import effective_base_url
from exchanges.types import Balance, MarketRules, OrderBook
from exchanges.variants import validate_variants, variants_for

from .context import Probe
from .invex import InvexProbes
from .nobitex import NobitexProbes
from .report import ConformanceReport, Verdict
from .testorder import TestOrderPlan, test_order_plan, test_order_run
from .wallex import WallexProbes

logger = logging.getLogger(__name__)

PROBES = {"nobitex": NobitexProbes, "wallex": WallexProbes, "invex": InvexProbes}
# A check may wait this long for its own rate budget (it is run by hand).
PROBE_MAX_WAIT = 30.0


class NotConfirmed(Exception):
    """The operator did not confirm the test order: nothing was placed."""

    def __init__(self, plan: TestOrderPlan | None, report: ConformanceReport) -> None:
        self.plan, self.report = plan, report
        super().__init__("the test order was not confirmed; nothing was placed")


def conformance_run(*, exchange: Exchange, place_test_order: bool = False, apply: bool = False,
                    confirm: Callable[[TestOrderPlan], bool] | None = None,
                    observer: Callable[[str], None] | None = None,
                    market: str | None = None) -> ConformanceReport:
    """Probe every open point of ``exchange``; with ``place_test_order`` (and
    ``confirm(plan)`` returning True) the test order too. Records nothing:
    ``store.conformance_record`` does."""
    config = config_for(exchange, probe=True)
    config = replace(config, rate_limit_max_wait=max(config.rate_limit_max_wait,
                                                     PROBE_MAX_WAIT))
    report = ConformanceReport(exchange=exchange.name, base_url=effective_base_url(exchange),
                               started_at=timezone.now(), applied=apply,
                               configured=validate_variants(exchange.adapter,
                                                            wire_variants(exchange)))
    probe = Probe(exchange=exchange, config=config, report=report, apply=apply,
                  observer=observer)
    probes = PROBES[exchange.adapter]()
    try:
        books, balances, rules = _read_only(probe, probes, market)
        if place_test_order and balances is not None:
            probe.step("planning the test order")
            plan = test_order_plan(adapter=probe.adapter(), books=books, balances=balances,
                                   rules=rules, market=market)
            if isinstance(plan, str):
                probe.row("test order", "one order of the minimum size, placed and cancelled",
                          plan, Verdict.OPEN)
            elif confirm is None or not confirm(plan):
                raise NotConfirmed(plan, report)
            else:
                test_order_run(probe, probes, plan)
        elif place_test_order:
            probe.row("test order", "one order of the minimum size, placed and cancelled",
                      "not placed: the account could not be read", Verdict.OPEN)
        _unsettled_rest(probe, place_test_order)
    finally:
        probe.close()
        report.finished_at = timezone.now()
    return report


def _read_only(probe: Probe, probes, market: str | None) -> tuple[
        dict[str, OrderBook], dict[str, Balance] | None, dict[str, MarketRules]]:
    adapter = probe.adapter()
    books: dict[str, OrderBook] = {}
    codes = [market] if market else sorted(adapter.markets)
    if not codes:
        probe.row("markets", "at least one enabled listing", "none configured", Verdict.FAIL)
        return books, None, {}
    probe.step(f"reading the order book of {codes[0]}")
    try:
        book = books[codes[0]] = adapter.get_order_book(codes[0])
        probe.row("host answers (order book)", f"the book of {codes[0]} at "
                  f"{probe.config.base_url}", f"{len(book.bids)} bids, {len(book.asks)} asks",
                  Verdict.PASS if book.bids and book.asks else Verdict.FAIL)
    except ExchangeError as exc:
        probe.row("host answers (order book)", f"the book of {codes[0]}", str(exc)[:200],
                  Verdict.ERROR)
        return books, None, {}
    if not probe.config.api_key:
        probe.row("credentials", "an API key is configured", "none (admin or environment)",
                  Verdict.FAIL)
        return books, None, {}
    balances = None
    if probe.kind != "invex":  # Invex's signing must be found before any private call
        balances = _balances(probe)
        if balances is None:
            return books, None, {}
    probes.read_only(probe)
    if balances is None:
        balances = _balances(probe)
    rules = _rules(probe)
    _fees(probe)
    return books, balances, rules


def _unsettled_rest(probe: Probe, place_test_order: bool) -> None:
    """Every variant of this exchange the run did not settle gets its row:
    ``open`` where trading depends on it, ``either`` where it does not."""
    reported = {row.variant for row in probe.report.rows if row.variant}
    reported |= {row.point for row in probe.report.rows}
    why = ("not observed in this run" if place_test_order
           else "not settled without --place-test-order")
    for name in sorted(variants_for(probe.kind)):
        if name not in reported and name not in probe.report.observed:
            probe.unsettled(name, why)


def _balances(probe: Probe) -> dict[str, Balance] | None:
    probe.step("reading balances (the credentials)")
    try:
        balances = probe.adapter().balances()
    except AuthenticationError as exc:
        probe.row("credentials", "accepted on a private read", str(exc)[:200], Verdict.FAIL)
        return None
    except ExchangeError as exc:
        probe.row("credentials", "accepted on a private read", str(exc)[:200], Verdict.ERROR)
        return None
    probe.row("credentials", "accepted on a private read", f"balances of {len(balances)} "
              "assets read", Verdict.PASS)
    return balances


def _rules(probe: Probe) -> dict[str, MarketRules]:
    probe.step("reading the market rules")
    try:
        rules = probe.adapter().market_rules()
    except ExchangeError as exc:
        probe.row("rules endpoint", "every configured listing's rules", str(exc)[:200],
                  Verdict.ERROR)
        return {}
    by_symbol = {symbol.upper(): rule for symbol, rule in rules.items()}
    listings = ExchangeMarket.objects.filter(exchange=probe.exchange, enabled=True)
    missing, differ = [], []
    for listing in listings:
        rule = by_symbol.get(listing.symbol.upper())
        if rule is None:
            missing.append(listing.symbol)
            continue
        for field in ("amount_step", "price_tick", "min_order_value"):
            published = getattr(rule, field)
            if published is not None and published != getattr(listing, field):
                differ.append(f"{listing.symbol} {field} {decimal_str(getattr(listing, field))}"
                              f" here, {decimal_str(published)} published")
    if missing:
        probe.row("rules endpoint", "every configured listing's rules",
                  f"no rule for {', '.join(missing)}: not listed there", Verdict.FAIL)
    else:
        probe.row("rules endpoint", "every configured listing's rules",
                  f"{len(rules)} listings; " + ("; ".join(differ) + " (setup or the daily "
                                                "rules task applies them)" if differ
                                                else "the stored rules match"),
                  Verdict.PASS)
    return by_symbol


def _fees(probe: Probe) -> None:
    probe.step("reading the account's fee rates")
    try:
        rates = probe.adapter().fee_rates()
    except ExchangeError as exc:
        probe.row("fee endpoint", "the account's rates", str(exc)[:200], Verdict.ERROR)
        return
    if not rates:
        probe.row("fee endpoint", "none documented (README FAQ: 0-0.5% by level)",
                  "not asked: the fees stay as set in the admin", Verdict.PASS)
        return
    takers = sorted({str(rate.taker) for rate in rates.values()
                     if rate.market is not None and rate.taker is not None})
    probe.row("fee endpoint", "the account's rates", f"taker {', '.join(takers) or '?'} on "
              f"the configured markets; stored {probe.exchange.taker_fee}", Verdict.PASS)
