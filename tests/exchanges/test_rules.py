"""Market rules and fee rates read from the exchanges (the sandbox over
HTTP) onto the rows: recorded in their history with the source, shown in
the admin, a hand-tightened limit kept, an unreadable rule reported and the
row left as it is."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from exchanges.models import Exchange, ExchangeMarket
from exchanges.registry import clear_cache
from exchanges.services.rules import exchange_rules_sync, exchange_rules_sync_one, rule_decide
from tests.admin.conftest import make_user
from tests.exchanges.conformance.conftest import exchanges_on

D = Decimal


@pytest.fixture
def on_sandbox(db, shared_sandbox, invex_keys):
    exchanges_on(shared_sandbox, invex_keys)
    yield shared_sandbox
    clear_cache()


def listing(exchange: str, symbol: str) -> ExchangeMarket:
    return ExchangeMarket.objects.get(exchange__name=exchange, symbol=symbol)


def test_rules_and_fees_are_read_and_recorded_with_their_source(on_sandbox):
    # Given the catalog's defaults (3,000,000 rial everywhere; Wallex taker 0.0025 here)
    assert listing("wallex", "BTCTMN").min_order_value == D("3000000")
    Exchange.objects.filter(name="wallex").update(taker_fee=D("0.0025"), maker_fee=D("0.001"))
    reports = {r.exchange: r for r in exchange_rules_sync()}
    # Wallex publishes 100,000 toman = 1,000,000 rial (minNotional), taker 0.4%, maker 0.3%
    btc = listing("wallex", "BTCTMN")
    assert btc.min_order_value == D("1000000")
    assert btc.price_tick == D("10")  # tickSize 0 places = 1 toman = 10 rial
    last = btc.history.first()
    assert last.history_change_reason.startswith("rules from wallex GET /v1/markets")
    wallex = Exchange.objects.get(name="wallex")
    assert (wallex.taker_fee, wallex.maker_fee) == (D("0.004"), D("0.003"))
    assert "fee rates from wallex GET /v1/account/fee" in wallex.history.first(). \
        history_change_reason
    assert any("taker_fee 0.0025 → 0.004" in line for line in reports["wallex"].changed)
    # Nobitex's profile gives the taker rate only (0.25%); its options 3,000,000 rial
    nobitex = Exchange.objects.get(name="nobitex")
    assert nobitex.taker_fee == D("0.0025") and nobitex.maker_fee == D("0.002")
    assert listing("nobitex", "BTCIRT").min_order_value == D("3000000")
    # Invex publishes no fee endpoint: not asked, nothing reported as a problem
    assert Exchange.objects.get(name="invex").rules_read_problems == ""
    assert listing("invex", "BTC_USDT").min_order_value == D("10")
    assert wallex.rules_read_at is not None and btc.rules_read_at is not None

    # Read again: nothing changes, no new history
    count = btc.history.count()
    again = exchange_rules_sync_one(exchange=Exchange.objects.get(name="wallex"))
    assert again.changed == [] and listing("wallex", "BTCTMN").history.count() == count


def test_a_limit_tightened_by_hand_is_kept_and_a_looser_one_gives_way(on_sandbox, client):
    boss = make_user("boss", superuser=True)
    client.force_login(boss)
    btc = listing("wallex", "BTCTMN")
    url = reverse("admin:exchanges_exchangemarket_change", args=[btc.pk])

    def edit(**changes) -> None:
        data = {"exchange": btc.exchange_id, "market": btc.market_id, "symbol": "BTCTMN",
                "price_scale": "10", "amount_step": "0.000001", "price_tick": "10",
                "min_order_value": "3000000", "enabled": "on", **changes}
        response = client.post(url, data)
        assert response.status_code == 302, response.content.decode()[:2000]

    # An operator tightens the minimum to 5,000,000 rial and the step to 0.00001
    edit(min_order_value="5000000", amount_step="0.00001")
    btc.refresh_from_db()
    assert set(btc.operator_rules) == {"min_order_value", "amount_step"}
    assert btc.operator_rules["min_order_value"]["by"] == "boss"
    report = exchange_rules_sync_one(exchange=btc.exchange)
    btc.refresh_from_db()
    # Then the exchange's looser 1,000,000 and 0.000001 do not undo it, and the report says so
    assert (btc.min_order_value, btc.amount_step) == (D("5000000"), D("0.00001"))
    assert any("BTCTMN min_order_value 5000000 (the operator's" in line for line in report.kept)
    page = client.get(url).content.decode()
    assert "min_order_value 5000000 by boss" in page

    # An operator's value below the exchange's own minimum gives way to the exchange's
    edit(min_order_value="500000", amount_step="0.00001")
    exchange_rules_sync_one(exchange=btc.exchange)
    btc.refresh_from_db()
    assert btc.min_order_value == D("1000000") and "min_order_value" not in btc.operator_rules
    assert "amount_step" in btc.operator_rules

    # Released in the admin, the exchange's rule applies again
    edit(amount_step="0.00001", min_order_value="1000000",
         release_operator_rules=["amount_step"])
    btc.refresh_from_db()
    assert btc.operator_rules == {}
    exchange_rules_sync_one(exchange=btc.exchange)
    btc.refresh_from_db()
    assert btc.amount_step == D("0.000001")


def test_an_unreadable_rule_leaves_the_row_and_is_reported(on_sandbox):
    on_sandbox.set_faults("wallex:error5xx=1.0", replace=True)
    before = {(r.symbol, r.min_order_value) for r in ExchangeMarket.objects.filter(
        exchange__name="wallex")}
    report = exchange_rules_sync_one(exchange=Exchange.objects.get(name="wallex"))
    assert {(r.symbol, r.min_order_value) for r in ExchangeMarket.objects.filter(
        exchange__name="wallex")} == before
    assert any("rules not read (GET /v1/markets)" in p for p in report.problems)
    assert any("fee rates not read" in p for p in report.problems)
    assert "rules not read" in Exchange.objects.get(name="wallex").rules_read_problems
    assert Exchange.objects.get(name="wallex").taker_fee == D("0.0025")  # the catalog's

    on_sandbox.clear_faults()
    ExchangeMarket.objects.filter(exchange__name="nobitex", symbol="ETHIRT").update(
        symbol="ETHXYZ")  # a listing the exchange does not list
    report = exchange_rules_sync_one(exchange=Exchange.objects.get(name="nobitex"))
    assert any("ETHXYZ: not in GET /v2/options" in p for p in report.problems)


def test_setup_and_the_daily_task_read_them(db, shared_sandbox, settings):
    from tests.exchanges.conftest import WALLEX_KEY

    settings.ARBSITE_EXCHANGES = ["wallex"]
    settings.ARBSITE_MARKETS = ["BTC-IRR"]
    settings.WALLEX_BASE_URL = shared_sandbox.base_url("wallex")
    settings.WALLEX_API_KEY = WALLEX_KEY
    out = StringIO()
    call_command("setup", stdout=out)
    assert "BTCTMN: min_order_value 3000000 → 1000000" in out.getvalue()
    assert listing("wallex", "BTCTMN").min_order_value == D("1000000")
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="exchanges.sync_market_rules")
    assert task.interval.every == 86400
    # The environment's key is dated when first seen: Wallex keys live 90 days
    from exchanges.credentials import api_key_expiry

    expiry = api_key_expiry(Exchange.objects.get(name="wallex"))
    assert expiry.source == "environment" and expiry.lifetime.days == 90
    assert expiry.expires_at is not None

    ExchangeMarket.objects.filter(symbol="BTCTMN").update(min_order_value=D("7"))
    from exchanges.tasks import sync_market_rules

    sync_market_rules.apply()
    assert listing("wallex", "BTCTMN").min_order_value == D("1000000")

    out = StringIO()
    call_command("setup", "--skip-exchange-rules", stdout=out)
    assert "not read" not in out.getvalue()


@pytest.mark.parametrize("field,stored,published,by_operator,expected", [
    ("min_order_value", "5", "3", False, "3"),  # not the operator's: the exchange's
    ("min_order_value", "5", "3", True, "5"),  # tighter: kept
    ("min_order_value", "2", "3", True, "3"),  # looser than the exchange allows: gives way
    ("amount_step", "0.001", "0.0001", True, "0.001"),  # a multiple: tighter, kept
    ("amount_step", "0.00003", "0.00002", True, "0.00006"),  # off-grid: on both grids
    ("price_tick", "1", "10", True, "10"),  # finer than the exchange's: its own
])
def test_the_rule_decision(field, stored, published, by_operator, expected):
    value, _ = rule_decide(field, D(stored), D(published), by_operator)
    assert value == D(expected)
