"""Detection: from the latest books to Opportunity rows (docs/ARCHITECTURE.md, the flow, step 2).

``opportunities_detect`` gathers its inputs (books and balances from Redis;
listings, limits and in-flight opportunities from the database:
``trading.detection.inputs``), hands them to ``cycle_evaluate``
(``trading.detection.cycle``: pure, no I/O, what the bench times) and writes
what it decided: an Opportunity per plan, its execution enqueued after
commit, the rejections counted (``trading.detection.rejections``).

Rules (see ``trading.services.arbitrage`` for the profit formula):

* each enabled market, each ordered pair (buy on A's asks, sell on B's bids)
  of exchanges that are enabled and trading-enabled and list the market;
* books missing, empty or older than ``max_book_age_ms`` are skipped, and so
  are books refused by their sanity check (``book_sanity``: crossed, out of
  order, or straying from the other exchanges' median mid) and directions
  paused by a protection (``protections``);
* the size maximises profit after both taker fees, then is capped by the
  quote available on the buyer (size × buy limit × (1 + fee) within it), the
  base available on the seller, the maximum order value per leg (size × its
  limit price) and the
  open-exposure room of the base asset, and rounded down to the coarser of
  the two amount steps; profit is recomputed on that size;
* it must reach ``min_profit_pct`` (of the buy cost, fee included) and
  ``min_profit_abs``, and each leg the listing's minimum order value;
* each leg's limit goes beyond its worst walked level by the market's
  slippage buffer (``trading.detection.slippage``), reduced until the worst
  case (every unit at its limit) keeps the minimum profit; the expected
  profit stays the walked depth's, the worst case is kept beside it;
* **at most one new opportunity per market per cycle** — the most profitable
  pair. Pairs of one market compete for the same base and quote balances, so
  two plans from one cycle could together spend more than either exchange
  holds; across markets, each plan's use of balances and exposure is deducted
  before the next market is evaluated (markets in code order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from arbsite.formatting import moment
from exchanges.markets import decimal_str as _s
from exchanges.models import Exchange, Market
from trading.detection.cycle import CycleInput, CycleResult, Plan, cycle_evaluate
from trading.detection.inputs import in_flight_read, limits_read, listings_read
from trading.detection.rejections import (
    Reason,
    Rejection,
    rejections_record,
    rejections_record_blocked,
)
from trading.models import Opportunity
from trading.services.balances import balances_latest
from trading.services.book_sanity import book_rejections_note
from trading.services.books import books_latest
from trading.services.budgets import plans_refused
from trading.services.decision_cache import (
    cached,
    decision_cache_bump_committed,
    decision_cache_deferred,
    versions_read,
)
from trading.services.decision_reads import balances_committed_cached, risk_check_cached
from trading.services.detection_trigger import detection_run
from trading.services.protections import protections_active

logger = logging.getLogger(__name__)


@dataclass
class DetectionReport:
    """What one detection cycle did, for the task's log and the bench."""

    books_seen: int = 0
    pairs_checked: int = 0
    opportunities_created: int = 0
    opportunity_ids: list[int] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    compute_ms: float = 0.0
    elapsed_ms: float = 0.0
    locked_out: bool = False  # another cycle was running: nothing done
    runs: int = 1  # cycles run back to back because books changed during one


def _create(plan: Plan, exchanges: dict[str, Exchange], markets: dict[str, Market],
            sources: dict[tuple[str, str], str]) -> Opportunity | None:
    """One row in its own savepoint (or alone in autocommit): should a unique
    constraint on in-flight pairs exist (or come), a concurrent cycle's
    duplicate is dropped, not fatal."""
    in_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_transaction else nullcontext():
            return Opportunity.objects.create(
                market=markets[plan.market],
                buy_exchange=exchanges[plan.buy_exchange],
                sell_exchange=exchanges[plan.sell_exchange],
                quote_asset=plan.quote,
                quantity=plan.quantity,
                buy_price=plan.buy_price,
                sell_price=plan.sell_price,
                buy_vwap=plan.buy_vwap,
                sell_vwap=plan.sell_vwap,
                buy_fee_rate=plan.buy_fee_rate,
                sell_fee_rate=plan.sell_fee_rate,
                expected_profit=plan.expected_profit,
                expected_profit_pct=plan.expected_profit_pct,
                worst_case_profit=plan.worst_case_profit,
                buy_book_age_ms=plan.buy_book_age_ms,
                sell_book_age_ms=plan.sell_book_age_ms,
                buy_book_source=sources.get((plan.buy_exchange, plan.market), ""),
                sell_book_source=sources.get((plan.sell_exchange, plan.market), ""),
                details=plan.details,
            )
    except IntegrityError as exc:
        logger.warning("detection: %s %s->%s not created (%s)", plan.market,
                       plan.buy_exchange, plan.sell_exchange, exc)
        return None


def opportunities_detect(*, enqueue_execution: Callable[[int], Any],
                         now: datetime | None = None) -> DetectionReport:
    """One detection cycle on the latest books; returns what it did and why.

    ``enqueue_execution(opportunity_id)`` is called for each new opportunity
    once its row is committed (the task passes ``execute_opportunity.delay``:
    services never import tasks). One cycle at a time across all workers
    (``arbsite.locks.DETECT_OPPORTUNITIES``): a cycle that finds another
    running does nothing (``locked_out``), since the holder runs again at once
    when books changed during its run (``detection_trigger``); the report is
    then the last run's, with every run's new opportunities."""
    reports = detection_run(detect=lambda: _detect(enqueue_execution, now))
    if not reports:
        return DetectionReport(locked_out=True)
    report = reports[-1]
    report.runs = len(reports)
    report.opportunity_ids = [i for r in reports for i in r.opportunity_ids]
    report.opportunities_created = len(report.opportunity_ids)
    return report


def _busy_refusals(markets: list, exchanges: dict[str, Exchange]) -> dict[tuple, Rejection]:
    """Pairs with an exchange that would not admit an order within a send's
    wait (execution refuses those before sending either leg): refused here,
    rather than opened and then refused. One Redis read per exchange."""
    from exchanges.registry import get_adapter

    busy: dict[str, float] = {}
    for name, exchange in exchanges.items():
        try:
            adapter = get_adapter(exchange)
            wait = adapter.place_wait()
        except Exception:  # noqa: BLE001 - execution checks again; never stop detection
            logger.exception("detection: could not read %s's rate limit; not refused here", name)
            continue
        if wait > adapter.config.rate_limit_max_wait:
            busy[name] = wait
    if not busy:
        return {}
    refused = {}
    for market in markets:
        for buy in market.listings:
            for sell in market.listings:
                names = {buy.exchange, sell.exchange} & busy.keys()
                if buy.exchange == sell.exchange or not names:
                    continue
                name = sorted(names)[0]
                refused[(market.code, buy.exchange, sell.exchange)] = Rejection(
                    Reason.EXCHANGE_BUSY, market.code, buy.exchange, sell.exchange,
                    {"why": f"{name} admits no order for {busy[name]:.1f} s"})
    return refused


def _detect(enqueue_execution: Callable[[int], Any], now: datetime | None) -> DetectionReport:
    started = time.perf_counter()
    now = now or timezone.now()
    report = DetectionReport()
    # What the database says, kept in this process while unchanged: one Redis
    # round trip tells (trading/services/decision_cache.py).
    versions = versions_read()
    markets, exchanges, market_rows = cached("listings", versions.config, listings_read)
    quotes = sorted({m.quote for m in markets})
    # The risk settings and today's P&L (an operator's change applies to the
    # next cycle: its save sets a new version), used for all of the cycle.
    checked = risk_check_cached(versions=versions, quote_assets=quotes, at=now)
    settings_row, blocked = checked.settings, checked.blocked
    report.blocked = blocked
    if quotes and len(blocked) == len(quotes):
        logger.debug("detection: nothing to do, trading blocked: %s", blocked)
        rejections_record_blocked(blocked=blocked, now=now)
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        return report

    in_flight = cached("in_flight", versions.state, in_flight_read)
    # Directions paused by a protection (protections.py): refused outright.
    # Kept like the settings (a protection's start or early end is a save);
    # one that ran out since the read is dropped here.
    protections = cached("protections", versions.config,
                         lambda: protections_active(now=now))
    protected = {pair: Rejection(Reason.PROTECTED, *pair, {
        "until": p.until.isoformat(), "why": f"protected until {moment(p.until)}: {p.reason}"})
        for pair, p in protections.items() if p.until > now}
    protected.update(_busy_refusals(markets, exchanges))
    data = CycleInput(
        markets=markets,
        books=books_latest(),
        # As they stand now: less what was committed since each read.
        balances=balances_committed_cached(versions=versions,
                                           cached_balances=balances_latest(sorted(exchanges))),
        limits=cached("limits", (versions.config, versions.state),
                      lambda: limits_read(markets, settings_row, in_flight)),
        now=now,
        in_flight=in_flight.pairs,
        blocked=blocked,
        refused=protected,
    )
    compute_started = time.perf_counter()
    result = cycle_evaluate(data)
    report.compute_ms = (time.perf_counter() - compute_started) * 1000
    # Capital budgets and exchange-down mode (trading/services/budgets.py) refuse
    # pairs; a market whose best pair is refused goes to its next best, so the
    # cycle runs again without the refused pairs (rare: a budget refused one).
    while refused := plans_refused(result.plans):
        data.refused.update(refused)
        result = cycle_evaluate(data)
    report.books_seen, report.pairs_checked = result.books_seen, result.pairs_checked
    # Books refused for straying from the others' (book_sanity): recorded here,
    # the crossed or disordered ones were when they were stored.
    book_rejections_note([(ex, market, why) for (ex, market), why in result.deviating.items()],
                         source="detection", at=now)

    for rejection in result.rejections:
        logger.debug("detection: %s %s->%s rejected: %s %s", rejection.market,
                     rejection.buy_exchange, rejection.sell_exchange, rejection.reason,
                     rejection.figures)
    # Where each book came from (stream or poll), recorded with the decision.
    sources = {book_key: entry.source for book_key, entry in data.books.items()}
    if result.plans:
        _plans_write(result, report, exchanges, market_rows, enqueue_execution, sources)
    report.opportunities_created = len(report.opportunity_ids)
    report.rejections = rejections_record(rejections=result.rejections, now=now,
                                          sources=sources)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


def _committed(enqueue: Callable[[int], Any], opportunity_id: int, changed: set[str]) -> None:
    """After the row's commit: its execution is enqueued, then the kept reads
    of what is in flight learn of it (``decision_cache``). In that order, off
    the path to the orders: the next detection cycle cannot start before this
    one ends (its lock), and execution reads nothing kept under that version."""
    enqueue(opportunity_id)
    if changed:
        decision_cache_bump_committed(*changed)
        changed.clear()


def _plans_write(result: CycleResult, report: DetectionReport, exchanges: dict[str, Exchange],
                 markets: dict[str, Market], enqueue: Callable[[int], Any],
                 sources: dict[tuple[str, str], str]) -> None:
    """The cycle's rows in one transaction; each execution enqueued after commit.

    The usual cycle has one plan: outside any transaction its row is one
    INSERT in autocommit (atomic by itself: no BEGIN, savepoint or COMMIT
    round trips), and ``on_commit`` enqueues at once, after it."""
    single = len(result.plans) == 1 and not transaction.get_connection().in_atomic_block
    with nullcontext() if single else transaction.atomic(), \
            decision_cache_deferred() as changed:
        for plan in result.plans:
            opportunity = _create(plan, exchanges, markets, sources)
            if opportunity is None:
                result.rejections.append(Rejection(
                    Reason.IN_FLIGHT, plan.market, plan.buy_exchange, plan.sell_exchange,
                    {"note": "not created: integrity error"}))
                continue
            report.opportunity_ids.append(opportunity.id)
            transaction.on_commit(partial(_committed, enqueue, opportunity.id, changed))
            logger.info(
                "detection: opportunity #%s %s buy %s @%s sell %s @%s qty %s profit %s %s "
                "(%s%%)", opportunity.id, plan.market, plan.buy_exchange, _s(plan.buy_price),
                plan.sell_exchange, _s(plan.sell_price), _s(plan.quantity),
                _s(plan.expected_profit), plan.quote, _s(plan.expected_profit_pct))


