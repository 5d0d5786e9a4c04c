"""Health that means health (issue 12.1): each condition, caused for real
(sandbox faults, a failing task, a stuck order, detection refusing), turns
the control panel's banner amber or red, is listed in its "needs attention"
box and in ``/healthz``'s problems; ``/healthz`` answers 503 whenever the
system cannot trade, 200 when it is healthy."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from exchanges.breaker import CircuitBreaker, breaker_state
from exchanges.models import Exchange, Market
from exchanges.registry import clear_cache, get_adapter
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.db_faults import status_change_refused
from tests.factories import make_opportunity, make_order, make_trade
from trading.alerts.watchdog import beat_heartbeat_record
from trading.models import Opportunity, PairProtection, RiskSettings
from trading.schedule import PERIODIC_TASKS
from trading.selectors import ERROR_SHOWN_SECONDS, exchange_health, system_health
from trading.services.book_sanity import book_rejections_clear
from trading.services.heartbeat import heartbeat_record
from trading.services.polling import orderbooks_poll
from trading.services.risk import kill_switch_set
from trading.services.sync import orders_sync

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ("nobitex", "wallex", "invex")


def poll() -> None:
    orderbooks_poll(request_detection=lambda: None)


def beat_and_worker_alive() -> None:
    heartbeat_record(role="worker")
    beat_heartbeat_record()


@pytest.fixture
def healthy(trading_setup, settings):
    """Three exchanges on the sandbox, books fresh, worker and beat alive."""
    settings.EXCHANGE_RATE_LIMITS_ENABLED = False
    poll()
    beat_and_worker_alive()
    yield trading_setup
    clear_cache()


def observe(client, operator_client) -> tuple[int, dict, str, set[str]]:
    """(/healthz status, its JSON, the banner's state, the box's problem codes)."""
    response = client.get(reverse("healthz"))
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    banner = re.search(r'id="trading-status" data-status="(\w+)"', page).group(1)
    box = set(re.findall(r'<tr class="(?:critical|warning)" id="problem-[^"]*" '
                         r'data-code="(\w+)"', page))
    return response.status_code, response.json(), banner, box


def codes(data: dict) -> set[str]:
    return {p["code"] for p in data["problems"]}


def problem(data: dict, code: str) -> dict:
    return next(p for p in data["problems"] if p["code"] == code)


def test_healthy_is_200_green_and_says_when_it_last_traded(healthy, client, operator_client):
    status, data, banner, box = observe(client, operator_client)
    assert (status, data["status"], data["problems"]) == (200, "ok", []), data
    assert banner == "ok" and box == set()
    assert data["last_trade_at"] is None

    order = make_order(exchange=Exchange.objects.get(name="nobitex"),
                       market=Market.objects.get(base="BTC", quote="IRR"), status="filled")
    make_trade(order=order, executed_at=timezone.now() - timedelta(seconds=42))
    data = client.get(reverse("healthz")).json()
    assert 41 <= data["last_trade_age_seconds"] < 60
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert re.search(r'id="last-trade">Last trade 4\d s ago', page)


def test_a_breaker_opened_by_the_sandboxes_503s_is_red_and_503(healthy, client,
                                                               operator_client):
    healthy.set_faults("nobitex:down=1")
    for _ in range(10):
        poll()
        if breaker_state("nobitex").state == "open":
            break
    assert breaker_state("nobitex").state == "open"

    status, data, banner, box = observe(client, operator_client)
    assert status == 503 and data["status"] == "unavailable"
    assert banner == "unavailable" and "breaker_open" in box
    entry = problem(data, "breaker_open")
    assert entry["severity"] == "critical" and entry["subject"] == "exchange:nobitex"
    assert entry["since"] is not None and "reset the breaker" in entry["action"]
    healthy.clear_faults()


def test_a_stale_429_never_stands_in_for_todays_503(healthy, client, operator_client,
                                                    settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = True  # a 429's back-off is the limiter's
    clear_cache()
    healthy.set_faults("wallex:ratelimit=1", replace=True)
    poll()
    earlier = [e for e in system_health().exchanges if e.name == "wallex"][0]
    assert "429" in earlier.last_error
    status, data, banner, box = observe(client, operator_client)  # the back-off in force
    assert "rate_limited" in codes(data), (data["problems"], data["exchanges"]["wallex"])
    assert problem(data, "rate_limited")["subject"] == "exchange:wallex"
    assert "rate_limited" in box and banner != "ok"

    with freeze_time(timezone.now() + timedelta(seconds=5), tick=True):
        from exchanges.ratelimit import RateLimiter
        from trading.services.polling import balances_refresh

        RateLimiter("wallex", {}).reset()  # the 429's back-off over: calls go out again
        healthy.set_faults("wallex:down=1", replace=True)
        for _ in range(10):  # balances (not polling) meet the 503s and open the breaker
            balances_refresh()
            if breaker_state("wallex").state == "open":
                break
        poll()  # polling now stops at the open breaker: it records no error of its own
        wallex = [e for e in system_health().exchanges if e.name == "wallex"][0]
        assert "503" in wallex.last_error and "429" not in wallex.last_error
        page = operator_client.get(reverse("admin:control_panel")).content.decode()
        row = re.search(r'<tr id="exchange-wallex">.*?</tr>', page, re.S).group(0)
        assert "503" in row and "429" not in row

    # An error older than ERROR_SHOWN_SECONDS is no longer shown.
    later = timezone.now() + timedelta(seconds=ERROR_SHOWN_SECONDS + 60)
    row = Exchange.objects.get(name="wallex")
    assert exchange_health(row, now=later).last_error == ""
    healthy.clear_faults()


def test_books_older_than_the_maximum_age_are_a_problem(healthy, client, operator_client):
    risk = RiskSettings.load()
    risk.max_book_age_ms = 2000
    risk.save()
    healthy.set_faults("invex:down=1", replace=True)
    with freeze_time(timezone.now() + timedelta(seconds=15), tick=True):
        beat_and_worker_alive()
        poll()  # invex answers 503: its books stay as they were, the others refresh
        status, data, banner, box = observe(client, operator_client)
    entry = problem(data, "books_stale")
    assert entry["subject"] == "exchange:invex" and "BTC-IRR" in entry["message"]
    assert entry["severity"] == "critical"  # every invex book: invex cannot trade
    assert status == 503 and banner == "unavailable" and "books_stale" in box
    healthy.clear_faults()


def test_periodic_tasks_failing_run_after_run_are_red(healthy, client, operator_client):
    # The real cause: an exchange row edited to an adapter that does not
    # exist (a bad data fix): polling, sync and balances crash on it.
    from trading import tasks

    nobitex = Exchange.objects.get(name="nobitex")
    make_order(exchange=nobitex, market=Market.objects.get(base="BTC", quote="IRR"),
               status="open", exchange_order_id="1")
    Exchange.objects.filter(pk=nobitex.pk).update(adapter="nobitexx")
    clear_cache()
    for _ in range(3):
        for task in (tasks.poll_orderbooks, tasks.refresh_balances):
            result = task.apply()  # Celery's own tracer: its signals fire
            assert result.failed()
        # Sync records the error on that exchange and goes on (one bad order or
        # exchange never stops the rest): it is not a failing task.
        assert tasks.sync_orders.apply().successful()
        tasks.heartbeat.apply()

    status, data, banner, box = observe(client, operator_client)
    failing = {p["subject"] for p in data["problems"] if p["code"] == "task_failing"}
    assert failing == {"task:trading.poll_orderbooks", "task:trading.refresh_balances"}
    entry = problem(data, "task_failing")
    assert entry["severity"] == "critical" and "3 times in a row" in entry["message"]
    assert "KeyError" in entry["message"]
    assert status == 503 and banner == "unavailable" and "task_failing" in box
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "nobitexx" in page  # the error in full, on the panel only
    assert "nobitexx" not in client.get(reverse("healthz")).content.decode()

    # One success clears it.
    Exchange.objects.filter(pk=nobitex.pk).update(adapter="nobitex")
    clear_cache()
    assert tasks.poll_orderbooks.apply().successful()
    data = client.get(reverse("healthz")).json()
    assert "task:trading.poll_orderbooks" not in {p["subject"] for p in data["problems"]}
    assert {spec.task for spec in PERIODIC_TASKS} >= {"trading.poll_orderbooks"}


def test_orders_pending_too_long_and_opportunities_stuck_executing(healthy, client,
                                                                   operator_client):
    btc = Market.objects.get(base="BTC", quote="IRR")
    nobitex, wallex = Exchange.objects.get(name="nobitex"), Exchange.objects.get(name="wallex")
    opportunity = make_opportunity(market=btc, buy=nobitex, sell=wallex, quantity=Decimal("0.01"),
                                   buy_price=Decimal("100000000000"),
                                   sell_price=Decimal("101000000000"),
                                   status=Opportunity.Status.EXECUTING,
                                   executed_at=timezone.now())
    make_order(exchange=nobitex, market=btc, opportunity=opportunity)  # pending_submit
    status, data, banner, _ = observe(client, operator_client)
    assert not codes(data) & {"orders_stuck", "opportunities_stuck"}  # not yet

    with freeze_time(timezone.now() + timedelta(minutes=6), tick=True):
        beat_and_worker_alive()
        poll()
        status, data, banner, box = observe(client, operator_client)
    assert {"orders_stuck", "opportunities_stuck"} <= codes(data) & box
    entry = problem(data, "orders_stuck")
    assert entry["subject"] == "exchange:nobitex" and "pending_submit" in entry["message"]
    assert "recovery" in entry["action"]
    assert status == 200 and data["status"] == "degraded" and banner == "degraded"


def _all_pairs_executing(executed_at):
    exchanges = list(Exchange.objects.filter(name__in=NAMES))
    for market in Market.objects.all():
        for buy in exchanges:
            for sell in exchanges:
                if buy != sell:
                    make_opportunity(market=market, buy=buy, sell=sell,
                                     quantity=Decimal("0.01"), buy_price=Decimal("1"),
                                     sell_price=Decimal("2"), executed_at=executed_at,
                                     status=Opportunity.Status.EXECUTING)
    # Detected before the restart that left them executing.
    Opportunity.objects.update(created_at=executed_at)


def test_detection_refusing_everything_names_the_reason(healthy, client, operator_client):
    from trading.services.detection import opportunities_detect

    now = timezone.now()
    _all_pairs_executing(now - timedelta(minutes=10))
    for back in (4, 3, 2, 1, 0):  # detection's cycles of the last five minutes
        report = opportunities_detect(enqueue_execution=lambda pk: None,
                                      now=now - timedelta(minutes=back))
        assert report.opportunities_created == 0

    status, data, banner, box = observe(client, operator_client)
    assert "detection_refusing" in codes(data), data["problems"]
    entry = problem(data, "detection_refusing")
    assert "in_flight" in entry["message"] and "still being executed" in entry["message"]
    assert "run recovery" in entry["action"]
    assert status == 503 and banner == "unavailable" and "detection_refusing" in box


def test_no_trade_for_long_while_spreads_were_seen(healthy, client, operator_client):
    from trading.services.detection import opportunities_detect

    # A spread on BTC-IRR that detection cannot size: no balances read.
    healthy.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10150000000", "1"]])
    poll()
    now = timezone.now()
    for back in (20, 16, 10, 5, 0):
        opportunities_detect(enqueue_execution=lambda pk: None,
                             now=now - timedelta(minutes=back))
    status, data, banner, box = observe(client, operator_client)
    entry = problem(data, "no_trade")
    assert entry["severity"] == "critical" and "No trade for" in entry["message"]
    assert status == 503 and "no_trade" in box


def test_paused_exchange_and_market_are_amber_with_the_way_back(healthy, client,
                                                                operator_client, operator):
    from trading.services.control import exchange_flag_set, market_enabled_set

    invex = Exchange.objects.get(name="invex")
    eth = Market.objects.get(base="ETH", quote="IRR")
    exchange_flag_set(exchange_id=invex.pk, field="trading_enabled", value=False,
                      user=operator, reason="maintenance")
    market_enabled_set(market_id=eth.pk, value=False, user=operator, reason="delisting")

    status, data, banner, box = observe(client, operator_client)
    assert {"exchange_paused", "market_paused"} <= codes(data) & box
    assert problem(data, "exchange_paused")["since"] is not None
    assert status == 200 and data["status"] == "degraded" and banner == "degraded"
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert reverse("admin:control_exchange", args=[invex.pk, "resume"]) in page
    assert reverse("admin:control_market", args=[eth.pk, "resume"]) in page


def test_an_incomplete_recovery_is_listed_until_one_completes(healthy, client,
                                                              operator_client):
    from trading.services.recovery import orders_recover

    healthy.set_faults("invex:down=1", replace=True)
    report = orders_recover(exchange_names=["invex"], wait_grace=False)
    assert not report.complete
    status, data, banner, box = observe(client, operator_client)
    entry = problem(data, "recovery_incomplete")
    assert entry["subject"] == "exchange:invex" and "recovery" in entry["action"].lower()
    assert "recovery_incomplete" in box and banner != "ok"

    healthy.clear_faults()
    CircuitBreaker("invex").reset()
    assert orders_recover(exchange_names=["invex"], wait_grace=False).complete
    assert "recovery_incomplete" not in codes(client.get(reverse("healthz")).json())


def test_worker_gone_is_red_and_names_it(healthy, client, operator_client):
    with freeze_time(timezone.now() + timedelta(minutes=3), tick=True):
        beat_heartbeat_record()  # beat runs; no worker ran the heartbeat task
        status, data, banner, box = observe(client, operator_client)
    assert status == 503 and "worker_missing" in codes(data) & box
    assert "celery -A arbsite worker" in problem(data, "worker_missing")["action"]


def test_the_kill_switch_is_red_and_its_reason_stays_on_the_panel(healthy, client,
                                                                  operator_client):
    kill_switch_set(active=True, reason="wallex key leaked", actor="admin:olga")
    status, data, banner, box = observe(client, operator_client)
    assert status == 503 and "kill_switch" in codes(data) & box and banner == "unavailable"
    assert "leaked" not in client.get(reverse("healthz")).content.decode()
    assert "leaked" in operator_client.get(reverse("admin:control_panel")).content.decode()


def test_credentials_the_exchange_refuses_are_red_and_say_what_to_fix(healthy, client,
                                                                      operator_client):
    from trading.services.polling import balances_refresh

    nobitex = Exchange.objects.get(name="nobitex")
    nobitex.api_key = "not-the-right-token"
    nobitex.save()
    clear_cache()
    balances_refresh()  # the sandbox answers 401: private calls stop at once

    status, data, banner, box = observe(client, operator_client)
    entry = problem(data, "credentials_refused")
    assert entry["subject"] == "exchange:nobitex" and entry["severity"] == "critical"
    assert "API key" in entry["action"] and "reset its breaker" in entry["action"]
    assert status == 503 and "credentials_refused" in box
    assert "not-the-right-token" not in client.get(reverse("healthz")).content.decode()


# --- what the other safety nets raise: needs a human, a hostile book, a protection

CROSSING_BUY = Decimal("100100000000")


def test_an_order_flagged_needs_a_human_is_listed_with_the_way_to_it(healthy, client,
                                                                     operator_client):
    btc = Market.objects.get(base="BTC", quote="IRR")
    order = make_order(exchange=Exchange.objects.get(name="nobitex"), market=btc, side="buy",
                       quantity=Decimal("0.01"), price=CROSSING_BUY, status=OrderState.UNKNOWN)
    get_adapter(order.exchange).place_order(OrderRequest(
        market=btc.code, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
        client_order_id=order.client_order_id, price=CROSSING_BUY))
    assert "orders_need_human" not in codes(client.get(reverse("healthz")).json())

    with status_change_refused(order_id=order.pk):
        orders_sync()

    status, data, banner, box = observe(client, operator_client)
    entry = problem(data, "orders_need_human")
    assert entry["severity"] == "warning" and "1 order" in entry["message"]
    assert "orders_need_human" in box and banner != "ok"
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "needs_human__exact=1" in page


def test_a_crossed_book_is_listed_while_it_lasts(healthy, client, operator_client):
    book_rejections_clear()
    answer = requests.post(f"{healthy.url}/_sandbox/faults",
                           json={"spec": "nobitex:crossed=3", "replace": True}, timeout=5)
    assert answer.status_code == 200, answer.text
    poll()

    status, data, banner, box = observe(client, operator_client)
    entries = [p for p in data["problems"] if p["code"] == "book_rejected"]
    assert entries and all(p["subject"] == "exchange:nobitex" for p in entries)
    assert "crossed" in entries[0]["message"]
    assert "book_rejected" in box and banner != "ok"


def test_a_pair_under_protection_is_listed_until_its_cooldown_ends(healthy, client,
                                                                  operator_client):
    btc = Market.objects.get(base="BTC", quote="IRR")
    now = timezone.now()
    protection = PairProtection.objects.create(
        market=btc, buy_exchange=Exchange.objects.get(name="nobitex"),
        sell_exchange=Exchange.objects.get(name="wallex"), reason="3 unwinds in 30 min",
        started_at=now, until=now + timedelta(minutes=60))

    status, data, banner, box = observe(client, operator_client)
    entry = problem(data, "pair_protected")
    assert entry["subject"] == "pair:BTC-IRR:nobitex>wallex" and "paused until" in entry["message"]
    assert "pair_protected" in box

    protection.until = now - timedelta(seconds=1)
    protection.save()
    assert "pair_protected" not in codes(client.get(reverse("healthz")).json())
