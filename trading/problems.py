"""What is wrong right now: the one list of problems behind the control
panel's banner and "needs attention" box and ``/healthz``.

``health_problems`` reads every condition once and returns ``Problem``\\ s,
worst first. Each names what is wrong (``code``, ``subject``, ``message``),
since when, and what an operator can do (``action``, with a link to the
admin page or confirmed action that does it).

Severity:

- ``critical`` (red; ``/healthz`` answers 503): the system cannot trade as
  configured: everywhere (kill switch, database, broker, Redis, worker or
  beat gone, a trading task failing run after run, detection refusing
  everything, no trade while spreads were seen) or on an enabled exchange
  (its breaker open, its credentials refused, its books too old, its
  conformance check not passed);
- ``warning`` (amber; ``/healthz`` 200, status ``degraded``): trading goes
  on, but something needs a human: orders or opportunities stuck, a
  rate-limit back-off, an exchange or market paused, a recovery that did not
  complete, a periodic task other than trading's failing.

Conditions the alerts already compute are read from the alerts' own code
(``trading.alerts.checks``: how long a breaker has been open, stuck
orders; ``trading.alerts.watchdog``: a missing worker or beat; the
``recovery_incomplete`` alert, raised by recovery itself), never computed
a second time.

``message`` and ``action`` are public (``/healthz`` is unauthenticated): no
secret, no operator's free text (the kill switch's reason), no exchange's
answer. ``detail`` (the panel only) carries those.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Min
from django.urls import NoReverseMatch, reverse

from arbsite import formatting
from exchanges.breaker import CLOSED
from exchanges.models import ExchangeMarket, Market

logger = logging.getLogger(__name__)

CRITICAL, WARNING = "critical", "warning"
_RANK = {CRITICAL: 0, WARNING: 1}
# Problems that follow from others listed: shown after their causes.
CONSEQUENCES = frozenset({"fewer_than_two_exchanges", "no_trade"})

# Periodic tasks without which nothing trades: failing run after run is critical.
TRADING_TASKS = frozenset({"trading.poll_orderbooks", "trading.sync_orders",
                           "trading.refresh_balances", "trading.heartbeat"})

# Detection's refusals that stop a spread from being traded because
# something is wrong (not because the spread is too thin or another pair
# was better): "detection refuses everything" counts these.
FAULT_REASONS = frozenset({
    "blocked", "in_flight", "no_book", "stale_book", "no_balance_data",
    "insufficient_balance", "max_order_value", "exposure_cap", "too_small",
    "capital_budget", "exchange_down", "bad_book", "protected", "bad_setting",
})
# Refusals that are only reached once a pair was crossed profitably after
# fees: each says a spread was there to trade.
SPREAD_REASONS = frozenset({
    "no_balance_data", "insufficient_balance", "max_order_value", "exposure_cap",
    "too_small", "below_min_profit_after_caps", "outbid", "capital_budget", "exchange_down",
})

# What to do about each refusal (the box's action for "detection refuses").
REFUSAL_ACTION = {
    "blocked": "Reset the kill switch, or wait for the next trading day (daily loss limit).",
    "in_flight": "Opportunities of these pairs are still executing: run recovery to settle "
                 "them.",
    "no_book": "Check the exchange's books (Exchanges below).",
    "stale_book": "Check the exchange's books and breaker (Exchanges below).",
    "no_balance_data": "Balances are not read: check the exchange's credentials and breaker.",
    "insufficient_balance": "Move funds to the exchange that lacks them.",
    "max_order_value": "Raise the maximum order value in the risk settings.",
    "exposure_cap": "Raise the exposure limit in the risk settings, or reduce the position.",
    "too_small": "Orders round below the exchange's minimum: raise balances or limits.",
    "capital_budget": "An exchange is over its capital budget (Capital budgets).",
    "exchange_down": "An exchange is in exchange-down mode: see its alert.",
    "bad_book": "An exchange serves a book that fails the sanity checks (Rejected books "
                "below): its pairs wait for a sound book.",
    "bad_setting": "A stored risk setting cannot be read (the example names it): correct it "
                   "in the risk settings; its asset's markets are skipped meanwhile.",
    "protected": "A pair is paused after repeated unwinds (Protections below): wait for "
                 "its cooldown, or end it early in the admin.",
}


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Problem:
    severity: str  # CRITICAL or WARNING
    code: str  # breaker_open, books_stale, task_failing …
    subject: str  # "exchange:nobitex", "task:trading.sync_orders", "" for the system
    since: datetime | None
    message: str  # what is wrong (public)
    action: str  # what an operator can do (public)
    links: tuple[Link, ...] = ()  # where to do it (the panel)
    detail: str = ""  # the panel only: errors in full, who did what and why
    age_seconds: float | None = None  # how long since ``since``, at the check

    @property
    def critical(self) -> bool:
        return self.severity == CRITICAL

    def as_json(self) -> dict[str, Any]:
        """The public form (``/healthz``): no links, no detail."""
        return {"severity": self.severity, "code": self.code, "subject": self.subject,
                "since": self.since.isoformat() if self.since else None,
                "message": self.message, "action": self.action}


def _url(name: str, *args: Any, query: str = "") -> str:
    try:
        return reverse(name, args=args) + (f"?{query}" if query else "")
    except NoReverseMatch:  # a page not installed (the admin off): no link
        return ""


def _links(*pairs: tuple[str, str]) -> tuple[Link, ...]:
    return tuple(Link(label, url) for label, url in pairs if url)


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


# --- the conditions -----------------------------------------------------------


def _system(health: Any, now: datetime) -> list[Problem]:
    problems = []
    for part, label in (("database", "Database"), ("broker", "Broker (Redis queue)"),
                        ("redis", "Redis")):
        state = getattr(health, part)
        if state != "ok":
            problems.append(Problem(
                CRITICAL, f"{part}_unavailable", "", now, f"{label} unavailable ({state}).",
                f"Check that {label.split(' ')[0].lower()} runs and that the web process "
                "reaches it; nothing trades meanwhile."))
    if health.kill_switch:
        problems.append(Problem(
            CRITICAL, "kill_switch", "", health.kill_switch_set_at,
            "Kill switch on: no new orders anywhere.",
            "Reset the kill switch once its cause is dealt with.",
            _links(("Reset the kill switch…", _url("admin:control_kill_switch", "off"))),
            detail=(f"Tripped by {health.kill_switch_set_by}: “{health.kill_switch_reason}”"
                    if health.kill_switch_set_by else "")))
    return problems


def _processes(health: Any, now: datetime) -> list[Problem]:
    """Worker and beat, from their heartbeats (the watchdog's vocabulary)."""
    from trading.alerts.checks import condition_held_since
    from trading.alerts.watchdog import MISSING_ADVICE, MISSING_WHAT

    max_age = health.heartbeat_max_age_seconds
    worker_age = health.heartbeat_age_seconds
    if worker_age is not None and worker_age <= max_age:
        return []  # a worker ran the task beat scheduled: both are alive
    beat_age = health.beat_heartbeat_age_seconds
    role = "worker" if beat_age is not None and beat_age <= max_age else "beat"
    last = health.heartbeat_at if role == "worker" else health.beat_heartbeat_at
    since = last or condition_held_since(f"no-heartbeat:{role}")
    age = (now - since).total_seconds() if since else None
    return [Problem(
        CRITICAL, f"{role}_missing", f"process:{role}", since,
        f"{role.capitalize()} missing: {MISSING_WHAT[role]}"
        + (f" for {_duration(age)}." if age is not None else "."),
        MISSING_ADVICE[role].replace("`", ""))]


def _exchanges(health: Any, now: datetime) -> list[Problem]:
    from trading.alerts.checks import condition_held_since

    problems = []
    polling = health.beat_heartbeat_age_seconds is not None and (
        health.beat_heartbeat_age_seconds <= health.heartbeat_max_age_seconds)
    for ex in health.exchanges:
        subject = f"exchange:{ex.name}"
        page = _url("admin:exchanges_exchange_change", ex.pk)
        if not ex.enabled:
            problems.append(Problem(
                WARNING, "exchange_disabled", subject, ex.off_since,
                f"{ex.name} is disabled: not polled, traded or synced.",
                f"Enable {ex.name} when it should trade again.",
                _links(("Enable…", _url("admin:control_exchange", ex.pk, "enable")))))
            continue
        if not ex.trading_enabled:
            problems.append(Problem(
                WARNING, "exchange_paused", subject, ex.off_since,
                f"Trading paused on {ex.name}: books fetched and orders synced, no new orders.",
                f"Resume trading on {ex.name} when it should trade again.",
                _links(("Resume…", _url("admin:control_exchange", ex.pk, "resume")))))
        if ex.breaker != CLOSED:
            held = condition_held_since(f"breaker:{ex.name}")
            since = min(filter(None, (held, ex.breaker_opened_at)), default=None)
            if ex.breaker_scope == "private":
                problems.append(Problem(
                    CRITICAL, "credentials_refused", subject, since,
                    f"{ex.name} refused the credentials: orders, balances and sync stopped.",
                    f"Fix {ex.name}'s API key on its page, then reset its breaker.",
                    _links(("Exchange page", page),
                           ("Reset breaker…", _url("admin:control_exchange", ex.pk,
                                                   "reset-breaker"))),
                    detail=ex.breaker_error))
            else:
                problems.append(Problem(
                    CRITICAL, "breaker_open", subject, since,
                    f"Circuit breaker of {ex.name} {ex.breaker.replace('_', '-')} after "
                    f"{ex.breaker_failures} failures: calls to {ex.name} stopped.",
                    f"Check {ex.name} (manage.py exchange {ex.name} book BTC-IRR looks past "
                    "the breaker); reset the breaker once it answers, or pause it.",
                    _links(("Reset breaker…", _url("admin:control_exchange", ex.pk,
                                                   "reset-breaker")),
                           ("Pause…", _url("admin:control_exchange", ex.pk, "pause"))),
                    detail=f"Last failure: {ex.breaker_error}" if ex.breaker_error else ""))
        elif ex.stale_books and polling:
            total = len(ex.stale_books) == ex.listings
            names = ", ".join(f"{market} {_duration(age) if age is not None else 'never'}"
                              for market, age in ex.stale_books[:6])
            problems.append(Problem(
                CRITICAL if total else WARNING, "books_stale", subject, ex.books_stale_since,
                f"Books of {ex.name} older than the {ex.book_max_age:g} s detection trades "
                f"on: {names}.",
                f"Check {ex.name}'s last error and rate-limit back-off (Exchanges below); "
                "detection does not trade these markets meanwhile.",
                _links(("Exchange page", page)),
                detail=f"Last error: {ex.current_error}" if ex.current_error else ""))
        if ex.backoff_seconds:
            problems.append(Problem(
                WARNING, "rate_limited", subject, ex.backoff_since,
                f"{ex.name} asked us to back off: {ex.backoff_seconds:.0f} s left.",
                "Nothing to do unless it repeats: calls resume by themselves. If it does, "
                "lower the polling rate or the rate limits (EXCHANGE_RATE_LIMITS).",
                _links(("Exchange page", page)), detail=ex.backoff_reason))
        if ex.conformance is not None and not ex.conformance.allowed:
            problems.append(Problem(
                CRITICAL, "conformance", subject, None,
                f"{ex.name} may not place orders: conformance check {ex.conformance.label}.",
                f"Run manage.py exchange {ex.name} conformance --place-test-order, or "
                "override the gate on the exchange's page.",
                _links(("Exchange page", page))))
    if health.database == "ok" and sum(e.can_trade for e in health.exchanges) < 2:
        problems.append(Problem(
            CRITICAL, "fewer_than_two_exchanges", "", None,
            "Fewer than two exchanges can trade: no arbitrage is possible.",
            "Deal with the exchanges' problems listed here."))
    return problems


def off_since(row: Any, flag: str) -> datetime | None:
    """When ``flag`` was last switched off on this row (its history), if known."""
    history = getattr(row, "history", None)
    if history is None:
        return None
    last_on = history.filter(**{flag: True}).order_by("-history_date").first()
    later = history.filter(**{flag: False})
    if last_on is not None:
        later = later.filter(history_date__gt=last_on.history_date)
    first_off = later.order_by("history_date").first()
    return first_off.history_date if first_off else None


def _paused_markets() -> list[Problem]:
    problems = []
    for market in Market.objects.filter(enabled=False).order_by("base", "quote"):
        problems.append(Problem(
            WARNING, "market_paused", f"market:{market.code}", off_since(market, "enabled"),
            f"Market {market.code} paused on every exchange: not fetched, not traded.",
            f"Resume {market.code} when it should trade again.",
            _links(("Resume…", _url("admin:control_market", market.pk, "resume")))))
    for listing in (ExchangeMarket.objects.filter(enabled=False, exchange__enabled=True,
                                                  market__enabled=True)
                    .select_related("exchange", "market")
                    .order_by("exchange__name", "market__base", "market__quote")):
        problems.append(Problem(
            WARNING, "listing_off", f"listing:{listing.exchange.name}:{listing.market.code}",
            off_since(listing, "enabled"),
            f"{listing.market.code} turned off on {listing.exchange.name}: not fetched or "
            "traded there.",
            "Turn the listing on again on its page when it should trade.",
            _links(("Listing…", _url("admin:exchanges_exchangemarket_change", listing.pk)))))
    return problems


def _tasks(now: datetime) -> list[Problem]:
    from trading.services.task_runs import task_runs_all

    repeated = int(_setting("HEALTH_TASK_FAILURES", 3))
    problems = []
    for run in task_runs_all():
        if run.failures_in_a_row < repeated or run.last_failure_at is None:
            continue
        # A failure is current while the task keeps being run: a record left
        # by a task since disabled stops counting.
        if (now - run.last_failure_at).total_seconds() > max(3 * run.every_seconds, 300):
            continue
        error_type = run.last_error.split(":", 1)[0]
        problems.append(Problem(
            CRITICAL if run.task in TRADING_TASKS else WARNING, "task_failing",
            f"task:{run.task}", run.failing_since or run.last_success_at,
            f"Periodic task “{run.name}” failed {run.failures_in_a_row} times in a row "
            f"({error_type}); "
            + (f"last success {_duration((now - run.last_success_at).total_seconds())} ago."
               if run.last_success_at else "no success recorded."),
            "Read the worker's log for the traceback (logger of the task's service); the "
            "schedule is under Periodic tasks.",
            _links(("Periodic tasks", _url("admin:django_celery_beat_periodictask_changelist"))),
            detail=f"Last failure at {formatting.moment(run.last_failure_at)}: "
                   f"{run.last_error}"))
    return problems


def _orders(now: datetime, monitor: Any) -> list[Problem]:
    from exchanges.states import OrderState
    from trading.alerts.checks import orders_stuck
    from trading.models import Opportunity

    problems = []
    groups: dict[tuple[str, str], list[Any]] = {}
    for order in orders_stuck(now=now, settings_row=monitor):
        groups.setdefault((order.exchange.name, order.status), []).append(order)
    for (name, status), orders in sorted(groups.items()):
        oldest = orders[0]
        problems.append(Problem(
            WARNING, "orders_stuck", f"exchange:{name}", oldest.since,
            f"{len(orders)} order{'s' if len(orders) != 1 else ''} {status} on {name} for over "
            f"{monitor.order_stuck_minutes} min (oldest {oldest.client_order_id}).",
            f"Run recovery for {name}: it looks each one up by client order id; resolve by "
            "hand what it cannot.",
            _links(("Run recovery…", _url("admin:control_exchange", oldest.exchange.pk,
                                          "recover")),
                   ("These orders", _url("admin:trading_order_changelist",
                                         query=f"status__exact={status}"
                                               f"&exchange__id__exact={oldest.exchange.pk}")))))
    cutoff = now - timedelta(minutes=monitor.order_stuck_minutes)
    stuck = (Opportunity.objects.filter(status="executing")
             .filter(executed_at__lte=cutoff) | Opportunity.objects.filter(
                 status="executing", executed_at__isnull=True, created_at__lte=cutoff))
    figures = stuck.aggregate(oldest=Min("executed_at"), created=Min("created_at"),
                              first=Min("pk"))
    count = stuck.count() if figures["first"] is not None else 0
    if count:
        problems.append(Problem(
            WARNING, "opportunities_stuck", "", figures["oldest"] or figures["created"],
            f"{count} opportunit{'ies' if count != 1 else 'y'} executing for over "
            f"{monitor.order_stuck_minutes} min (oldest #{figures['first']}): their legs "
            "are not final, and detection refuses their pairs meanwhile.",
            "Run recovery (it settles what it can), then look at the legs still open.",
            _links(("These opportunities",
                    _url("admin:trading_opportunity_changelist", query="status__exact=executing")),
                   ("Unknown orders", _url("admin:trading_order_changelist",
                                           query=f"status__exact={OrderState.UNKNOWN}")))))
    return problems


def _detection(now: datetime, health: Any) -> list[Problem]:
    """Detection refusing everything, and no trade while spreads were seen."""
    from trading.detection.rejections import REASON_TEXT, rejections_per_minute
    from trading.models import Opportunity

    window = int(_setting("HEALTH_DETECTION_MINUTES", 5))
    no_trade = int(_setting("HEALTH_NO_TRADE_MINUTES", 15))
    minutes = rejections_per_minute(now=now, minutes=60)
    problems = []
    last_opportunity = Opportunity.objects.aggregate(at=Max("created_at"))["at"]

    # Refusing everything: refusals for a fault in (nearly) every minute of the
    # window, and not one opportunity.
    refused = [(start, {r: n for r, n in counts.items() if r in FAULT_REASONS})
               for start, counts in minutes]
    recent = refused[:window]
    busy = sum(1 for _, counts in recent if counts)
    if busy >= max(window - 1, 1) and (last_opportunity is None
                                       or last_opportunity < now - timedelta(minutes=window)):
        # How long it has lasted: the unbroken minutes of refusals back from
        # now (the current minute may not have had its cycle yet).
        start = 1 if not refused[0][1] else 0
        run = start
        for _, counts in refused[start:]:
            if not counts:
                break
            run += 1
        since = refused[run - 1][0] if run > start else now
        if last_opportunity is not None and last_opportunity > since:
            since = last_opportunity
        totals: Counter[str] = Counter()
        for _, counts in refused[:run or window]:
            totals.update(counts)
        top = totals.most_common(3)
        main = top[0][0]
        problems.append(Problem(
            CRITICAL, "detection_refusing", "", since,
            "Detection refuses every opportunity: "
            + "; ".join(f"{reason} ×{formatting.number(n, 0)} ({REASON_TEXT.get(reason, reason)})"
                        for reason, n in top) + ".",
            REFUSAL_ACTION.get(main, "See “Why nothing traded” below."),
            _links(("Why nothing traded", "#rejections"),
                   *((("Risk settings", _url("admin:trading_risksettings_changelist")),)
                     if main in ("max_order_value", "exposure_cap", "blocked") else ()))))

    # No trade for N minutes while spreads were seen.
    spread_minutes = [start for start, counts in minutes
                      if any(r in SPREAD_REASONS for r in counts)]
    first_opportunity = Opportunity.objects.filter(
        created_at__gte=now - timedelta(hours=1)).aggregate(at=Min("created_at"))["at"]
    seen = sorted(filter(None, [spread_minutes[-1] if spread_minutes else None,
                                first_opportunity]))
    recent_seen = (bool(spread_minutes) and spread_minutes[0] >= now - timedelta(
        minutes=no_trade)) or (last_opportunity is not None
                               and last_opportunity >= now - timedelta(minutes=no_trade))
    last_trade = health.last_trade_at
    cutoff = now - timedelta(minutes=no_trade)
    if recent_seen and seen and (last_trade is None or last_trade < cutoff):
        since = last_trade or seen[0]
        if since <= cutoff:
            problems.append(Problem(
                CRITICAL, "no_trade", "", since,
                f"No trade for {_duration((now - since).total_seconds())} although spreads "
                f"worth trading were seen in the last {no_trade} min.",
                "The other problems listed say why; else see “Why nothing traded” and the "
                "latest opportunities below.",
                _links(("Why nothing traded", "#rejections"),
                       ("Opportunities", _url("admin:trading_opportunity_changelist")))))
    return problems


def _recovery() -> list[Problem]:
    """Recoveries that did not complete: the ``recovery_incomplete`` alerts
    recovery raises per exchange (and resolves when one completes)."""
    from trading.alerts.kinds import AlertKind
    from trading.alerts.models import ACTIVE_STATES, Alert

    problems = []
    for alert in (Alert.objects.filter(kind=AlertKind.RECOVERY_INCOMPLETE,
                                       state__in=ACTIVE_STATES)
                  .select_related("exchange").order_by("first_seen_at")):
        exchange = alert.exchange
        name = exchange.name if exchange else alert.subject.removeprefix("exchange:")
        problems.append(Problem(
            WARNING, "recovery_incomplete", alert.subject, alert.first_seen_at,
            f"The last recovery of {name} did not complete.",
            f"Run recovery for {name} again once it answers; resolve by hand what it lists "
            "as needing a human.",
            _links(*((("Run recovery…", _url("admin:control_exchange", exchange.pk, "recover")),)
                     if exchange else ()),
                   ("Alert", _url("admin:trading_alert_change", alert.pk))),
            detail=alert.message))
    return problems


# A rejected book within this many seconds is current (the panel's list
# keeps a week of them; health speaks of now).
BOOK_REJECTION_CURRENT_SECONDS = 120


def _needs_human() -> list[Problem]:
    from trading.models import Order

    flagged = Order.objects.filter(needs_human=True)
    figures = flagged.aggregate(first=Min("pk"), oldest=Min("updated_at"))
    if figures["first"] is None:
        return []
    count = flagged.count()
    return [Problem(
        WARNING, "orders_need_human", "", figures["oldest"],
        f"{count} order{'s' if count != 1 else ''} flagged \"needs a human\": an error or an "
        "id conflict that no code could settle.",
        "Read each one's history, settle it on the exchange if needed, then mark it checked.",
        _links(("These orders", _url("admin:trading_order_changelist",
                                     query="needs_human__exact=1"))))]


def _hostile_books_and_protections(now: datetime) -> list[Problem]:
    from trading.services.book_sanity import book_rejections_read
    from trading.services.protections import protections_active

    problems = []
    for line in book_rejections_read():
        if line.last_at is None or (now - line.last_at).total_seconds() > \
                BOOK_REJECTION_CURRENT_SECONDS:
            continue
        problems.append(Problem(
            WARNING, "book_rejected", f"exchange:{line.exchange}", line.last_at,
            f"{line.exchange} {line.market}: its book fails the sanity checks "
            f"({line.last_reason}); detection does not trade on it.",
            "Nothing to do if it passes: the next sound book is used. If it lasts, pause the "
            "listing and ask the exchange.",
            _links(("Control panel", _url("admin:control_panel")))))
    for p in protections_active(now=now).values():
        problems.append(Problem(
            WARNING, "pair_protected", f"pair:{p.market}:{p.buy_exchange}>{p.sell_exchange}",
            None,
            f"{p.market} buy on {p.buy_exchange}, sell on {p.sell_exchange}: paused until "
            f"{p.until:%Y-%m-%d %H:%M:%S} UTC after repeated unwinds.",
            "Wait for the cooldown, or end it early (Pair protections) once the cause is "
            "understood.",
            _links(("Pair protections", _url("admin:trading_pairprotection_changelist"))),
            detail=p.reason))
    return problems


@dataclass
class _Guarded:
    problems: list[Problem] = field(default_factory=list)

    def add(self, what: str, read: Any, *args: Any) -> None:
        """One condition's reading; one that fails is itself a problem, and
        never hides the others."""
        try:
            self.problems.extend(read(*args))
        except Exception as exc:
            logger.exception("health: %s could not be read", what)
            self.problems.append(Problem(
                WARNING, "health_unreadable", f"health:{what}", None,
                f"Health could not read {what} ({type(exc).__name__}).",
                "See the web process's log."))


def health_problems(health: Any, *, now: datetime) -> list[Problem]:
    """Every problem, critical first, then the oldest first. ``health`` is
    ``trading.selectors.SystemHealth`` with its facts read."""
    from trading.alerts.models import MonitorSettings

    guarded = _Guarded()
    guarded.add("the system", _system, health, now)
    if health.redis == "ok":
        guarded.add("the processes", _processes, health, now)
    if health.database == "ok":
        guarded.add("the exchanges", _exchanges, health, now)
        guarded.add("paused markets", _paused_markets)
        monitor = MonitorSettings.load()
        guarded.add("orders", _orders, now, monitor)
        guarded.add("recovery", _recovery)
        guarded.add("orders needing a human", _needs_human)
        if health.redis == "ok":
            guarded.add("books and protections", _hostile_books_and_protections, now)
        if health.redis == "ok":
            guarded.add("periodic tasks", _tasks, now)
            guarded.add("detection", _detection, now, health)
    aged = [replace(p, age_seconds=max((now - p.since).total_seconds(), 0.0) if p.since
                    else None) for p in guarded.problems]
    # Worst first; within a severity the causes, oldest first, before what
    # follows from them (fewer than two exchanges able to trade).
    return sorted(aged, key=lambda p: (_RANK[p.severity], p.code in CONSEQUENCES,
                                       p.since is None, p.since or now))
