"""The running ledger against the sandbox over HTTP: trading through
arbsite matches; a fill made behind its back (an order placed directly
with the demo account's credentials) is a mismatch, alerted and pausing
the exchange; a recorded transfer explains a balance changed by hand;
orders in flight leave a check unjudged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from exchanges.models import Exchange, Market
from tests.factories import make_opportunity
from trading.alerts.kinds import AlertKind
from trading.alerts.models import Alert, MonitorSettings
from trading.capital.models import LedgerCheck, Transfer
from trading.services.execution import opportunity_execute
from trading.services.ledger import ledger_accept, ledger_check, transfer_advance, transfer_record

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")


def _statuses(exchange: str) -> dict[str, str]:
    latest = LedgerCheck.objects.filter(exchange__name=exchange).order_by("-checked_at").first()
    return dict(LedgerCheck.objects.filter(exchange__name=exchange, checked_at=latest.checked_at)
                .values_list("asset", "status"))


def _trade_through_arbsite(sandbox):
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.5"], ["9000000000", "5"]])
    opp = make_opportunity(market=Market.objects.get(base="BTC", quote="IRR"),
                           buy=Exchange.objects.get(name="nobitex"),
                           sell=Exchange.objects.get(name="wallex"), quantity=QTY,
                           buy_price=NOBITEX_ASK, sell_price=Decimal("101000000000"))
    opportunity_execute(opportunity_id=opp.pk)
    opp.refresh_from_db()
    assert opp.status == "done"


def _nobitex_set_balances(sandbox, token: str, **balances: str) -> None:
    """Change the demo account's balances by hand, through the sandbox's control API."""
    state = sandbox.state()["exchanges"]["nobitex"]["accounts"]
    current = next(a["balances"] for a in state if a["api_key"] == token)
    wanted = {cur: row["total"] for cur, row in current.items()}
    wanted.update(balances)
    answer = requests.post(sandbox.url + "/_sandbox/accounts", timeout=5, data=json.dumps(
        {"exchange": "nobitex", "api_key": token, "balances": wanted}))
    assert answer.status_code == 200, answer.text


def test_trading_through_arbsite_matches_and_a_fill_behind_its_back_is_caught(
        trading_setup, sandbox_credentials):
    sandbox = trading_setup
    settings_row = MonitorSettings.load()
    settings_row.ledger_mismatch_pauses_trading = True
    settings_row.save()
    # Given a first balance on every exchange, then a round trip through arbsite
    ledger_check()
    assert set(_statuses("nobitex").values()) == {"baseline"}
    _trade_through_arbsite(sandbox)

    # Then the ledger explains every balance that moved
    runs = {r.exchange: r for r in ledger_check()}
    assert all(not r.mismatches and not r.unsettled_because for r in runs.values())
    btc = LedgerCheck.objects.filter(exchange__name="nobitex", asset="BTC").first()
    assert btc.status == "ok" and btc.fills_counted == 1
    assert btc.fills_delta == QTY - Decimal("0.000025")  # bought, less the fee in BTC
    assert not Alert.objects.filter(kind=AlertKind.LEDGER_MISMATCH).exists()

    # When someone buys 0.05 BTC on Nobitex with the same account, behind arbsite's back
    answer = requests.post(
        sandbox.base_url("nobitex") + "/market/orders/add", timeout=5,
        headers={"Authorization": f"Token {sandbox_credentials['NOBITEX_API_TOKEN']}"},
        json={"type": "buy", "execution": "limit", "srcCurrency": "btc", "dstCurrency": "rls",
              "amount": "0.05", "price": "100100000000"})
    assert answer.json()["status"] == "ok", answer.text

    # Then the next check is a mismatch on both assets, alerted, and trading there pauses
    run = ledger_check(exchange_names=["nobitex"])[0]
    assert {c.asset for c in run.mismatches} == {"BTC", "IRR"}
    btc = next(c for c in run.mismatches if c.asset == "BTC")
    assert btc.difference == Decimal("0.05") - Decimal("0.05") * Decimal("0.0025")
    alert = Alert.objects.get(kind=AlertKind.LEDGER_MISMATCH, subject="ledger:nobitex:BTC")
    assert alert.severity == "critical" and "off by +0.049875 BTC" in alert.title
    assert run.paused and not Exchange.objects.get(name="nobitex").trading_enabled
    assert Exchange.objects.get(name="wallex").trading_enabled
    # and it stays a mismatch, one alert repeated, until explained or accepted
    ledger_check(exchange_names=["nobitex"])
    alert.refresh_from_db()
    assert alert.count == 2 and alert.state == "open"

    ledger_accept(check_id=LedgerCheck.objects.filter(exchange__name="nobitex", asset="BTC")
                  .first().pk, actor="admin:olga", reason="a manual trade by the owner")
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by == "admin:olga"
    ledger_check(exchange_names=["nobitex"])
    assert _statuses("nobitex")["BTC"] == "ok"
    assert _statuses("nobitex")["IRR"] == "mismatch"


def test_a_recorded_transfer_explains_a_balance_changed_by_hand(trading_setup,
                                                                sandbox_credentials):
    sandbox = trading_setup
    token = sandbox_credentials["NOBITEX_API_TOKEN"]
    nobitex = Exchange.objects.get(name="nobitex")
    ledger_check(exchange_names=["nobitex"])

    # A deposit recorded as it arrives: no alarm
    transfer_record(transfer=Transfer(kind="deposit", to_exchange=nobitex, asset="BTC",
                                      amount=Decimal("0.5"), state="completed",
                                      txid="bc1-test-deposit"))
    _nobitex_set_balances(sandbox, token, btc="2.5")
    run = ledger_check(exchange_names=["nobitex"])[0]
    assert not run.mismatches
    btc = next(c for c in run.checks if c.asset == "BTC")
    assert btc.status == "ok" and btc.transfers_delta == Decimal("0.5")
    assert btc.transfers_counted == 1

    # A withdrawal made first and recorded after: a mismatch, explained once recorded
    _nobitex_set_balances(sandbox, token, rls="99000000000")
    assert {c.asset for c in ledger_check(exchange_names=["nobitex"])[0].mismatches} == {"IRR"}
    alert = Alert.objects.get(kind=AlertKind.LEDGER_MISMATCH, subject="ledger:nobitex:IRR")
    withdrawal = transfer_record(transfer=Transfer(
        kind="withdrawal", from_exchange=nobitex, asset="IRR", amount=Decimal("999000000"),
        fee=Decimal("1000000"), state="pending", txid="sheba-ref-1"))
    transfer_advance(transfer_id=withdrawal.pk, to_state="sent", reason="bank confirmed")
    run = ledger_check(exchange_names=["nobitex"])[0]
    assert not run.mismatches
    alert.refresh_from_db()
    assert alert.state == "resolved" and "explained" in alert.resolve_reason


def test_a_check_with_an_order_in_flight_is_not_judged(trading_setup):
    from tests.admin.test_order_actions import place_resting_order

    ledger_check(exchange_names=["nobitex"])
    place_resting_order("nobitex")
    run = ledger_check(exchange_names=["nobitex"])[0]
    assert run.unsettled_because == ["1 order(s) live"]
    assert set(_statuses("nobitex").values()) == {"unsettled"}
    assert not Alert.objects.filter(kind=AlertKind.LEDGER_MISMATCH).exists()


def test_recover_orders_reports_the_ledger_at_its_end(trading_setup, capsys):
    from django.core.management import call_command

    call_command("recover_orders", "--exchange", "nobitex")
    call_command("recover_orders", "--exchange", "nobitex")
    out = capsys.readouterr().out
    assert "ledger (balance the exchange reports vs what our records explain):" in out
    assert "nobitex: ok" in out
