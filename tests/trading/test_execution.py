"""Execution against the sandbox over HTTP: both legs, exactly once, and
every leg-failure path (rejected, partly filled, ambiguous)."""

from decimal import Decimal

import pytest

from exchanges.client_ids import is_strictly_valid
from exchanges.models import Exchange, Market
from exchanges.states import OrderState
from tests.factories import make_opportunity
from trading.models import Opportunity, OrderEvent, RiskSettings, Trade
from trading.services.execution import opportunity_execute
from trading.services.risk import kill_switch_set
from trading.services.settlement import realized_pnl
from trading.services.sync import orders_sync

pytestmark = pytest.mark.django_db(transaction=True)

QTY = Decimal("0.01")
NOBITEX_ASK = Decimal("100040000000")  # static scenario: best ask, rial
NOBITEX_BID = Decimal("99960000000")
WALLEX_RICH_BID_TOMAN = "10100000000"  # = 101,000,000,000 rial


@pytest.fixture
def btc(trading_setup):
    return Market.objects.get(base="BTC", quote="IRR")


def _ex(name):
    return Exchange.objects.get(name=name)


def _wallex_pays_more(sandbox, amount="0.5"):
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[[WALLEX_RICH_BID_TOMAN, amount], ["9000000000", "5"]])


def _opportunity(btc, sell_price=Decimal(WALLEX_RICH_BID_TOMAN) * 10, **kw):
    return make_opportunity(market=btc, buy=_ex("nobitex"), sell=_ex("wallex"), quantity=QTY,
                            buy_price=NOBITEX_ASK, sell_price=sell_price, **kw)


def _placed(sandbox, exchange):
    return sandbox.state()["exchanges"][exchange]["counters"]["orders_placed"]


def test_both_legs_fill_and_the_opportunity_closes_with_its_pnl(trading_setup, btc):
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    opp = _opportunity(btc)

    result = opportunity_execute(opportunity_id=opp.pk)

    opp.refresh_from_db()
    assert result.outcome == "sent"
    assert opp.status == Opportunity.Status.DONE
    buy, sell = opp.orders.order_by("side")  # "buy" < "sell"
    assert (buy.status, sell.status) == (OrderState.FILLED, OrderState.FILLED)
    assert buy.exchange_order_id and sell.exchange_order_id
    # Hand-computed: buy 0.01 at 100,040,000,000 rial (fee 0.25% in BTC, valued at
    # the fill price), sell 0.01 at 101,000,000,000 rial on Wallex (0.4% in the quote).
    cost, fee_buy = Decimal("1000400000"), Decimal("0.000025") * NOBITEX_ASK
    proceeds, fee_sell = Decimal("1010000000"), Decimal("4040000")
    assert opp.realized_pnl == proceeds - cost - fee_buy - fee_sell == Decimal("3059000")
    assert Trade.objects.filter(order__opportunity=opp).count() == 2
    # Every change is in the history: created, then the exchange's answer.
    assert list(buy.events.order_by("id").values_list("to_status", flat=True)) == [
        "pending_submit", "filled"]


def test_an_opportunity_executes_once_however_often_the_task_runs(trading_setup, btc):
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    opp = _opportunity(btc)

    first = opportunity_execute(opportunity_id=opp.pk)
    again = opportunity_execute(opportunity_id=opp.pk)

    assert (first.outcome, again.outcome) == ("sent", "claimed-elsewhere")
    assert _placed(sandbox, "nobitex") == 1 and _placed(sandbox, "wallex") == 1
    assert opp.orders.count() == 2


def test_the_kill_switch_is_checked_again_at_execution(trading_setup, btc):
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    opp = _opportunity(btc)
    kill_switch_set(active=True, reason="test stop", actor="test")

    result = opportunity_execute(opportunity_id=opp.pk)

    opp.refresh_from_db()
    assert result.outcome == "refused"
    assert opp.status == Opportunity.Status.REJECTED and "kill switch" in opp.reason
    assert opp.orders.count() == 0
    assert _placed(sandbox, "nobitex") == 0


def test_a_rejected_leg_with_the_other_filled_is_unwound(trading_setup, btc):
    # Given a sell limit so far from Wallex's market that Wallex refuses it
    sandbox = trading_setup
    opp = _opportunity(btc, sell_price=Decimal("150000000000"))

    opportunity_execute(opportunity_id=opp.pk)

    opp.refresh_from_db()
    orders = {o.purpose + ":" + o.side: o for o in opp.orders.all()}
    assert orders["entry:sell"].status == OrderState.REJECTED
    assert orders["entry:buy"].status == OrderState.FILLED
    unwind = orders["unwind:sell"]
    assert unwind.exchange.name == "nobitex" and unwind.status == OrderState.FILLED
    # Every id minted by exchanges.client_ids: exchange and purpose codes, Wallex's rule.
    assert orders["entry:buy"].client_order_id.startswith("NE_")
    assert orders["entry:sell"].client_order_id.startswith("WE_")
    assert unwind.client_order_id.startswith("NU_")
    assert all(is_strictly_valid(o.client_order_id) for o in orders.values())
    assert unwind.quantity == QTY
    assert opp.status == Opportunity.Status.UNWOUND
    # Bought at the ask, sold back at the bid, both fees paid.
    expected = (QTY * NOBITEX_BID - QTY * NOBITEX_ASK - Decimal("0.000025") * NOBITEX_ASK
                - QTY * NOBITEX_BID * Decimal("0.0025"))
    assert opp.realized_pnl == expected == Decimal("-5800000")
    assert _placed(sandbox, "nobitex") == 2


def test_a_partly_filled_leg_is_cancelled_and_its_imbalance_unwound(trading_setup, btc):
    # Given Wallex's rich bid holds only 0.004 BTC
    sandbox = trading_setup
    _wallex_pays_more(sandbox, amount="0.004")
    opp = _opportunity(btc)

    opportunity_execute(opportunity_id=opp.pk)

    opp.refresh_from_db()
    sell = opp.orders.get(purpose="entry", side="sell")
    assert sell.status == OrderState.CANCELLED
    assert sell.filled_quantity == Decimal("0.004")
    unwind = opp.orders.get(purpose="unwind")
    assert (unwind.side, unwind.quantity, unwind.exchange.name) == ("sell", Decimal("0.006"),
                                                                   "nobitex")
    assert opp.status == Opportunity.Status.UNWOUND
    assert opp.realized_pnl == realized_pnl(opp)


def test_an_ambiguous_leg_stays_unknown_until_sync_finds_it(trading_setup, btc):
    # Given Wallex executes the order but its answer is lost
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    sandbox.set_faults("wallex:lost_answer=1")
    opp = _opportunity(btc)

    opportunity_execute(opportunity_id=opp.pk)

    sell = opp.orders.get(side="sell")
    opp.refresh_from_db()
    assert sell.status == OrderState.UNKNOWN  # never read as failed
    assert opp.status == Opportunity.Status.EXECUTING
    assert _placed(sandbox, "wallex") == 1

    # When sync runs (the answer path works again)
    sandbox.clear_faults()
    orders_sync()

    # Then the order is adopted as the exchange has it, never re-sent
    sell.refresh_from_db()
    opp.refresh_from_db()
    assert sell.status == OrderState.FILLED and sell.exchange_order_id
    assert _placed(sandbox, "wallex") == 1
    assert opp.status == Opportunity.Status.DONE
    assert opp.realized_pnl == Decimal("3059000")
    assert OrderEvent.objects.filter(order=sell, from_status="unknown", source="sync").exists()


def test_sync_records_each_fill_once(trading_setup, btc):
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    opp = _opportunity(btc)
    opportunity_execute(opportunity_id=opp.pk)
    trades = Trade.objects.count()

    orders_sync()
    orders_sync()

    assert Trade.objects.count() == trades == 2


def test_sandbox_balances_move_exactly_as_the_recorded_trades_say(trading_setup, btc):
    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    before = sandbox.state()["exchanges"]
    opportunity_execute(opportunity_id=_opportunity(btc).pk)
    after = sandbox.state()["exchanges"]

    def total(state, exchange, currency):
        return Decimal(state[exchange]["accounts"][0]["balances"][currency]["total"])

    buy = Trade.objects.get(side="buy")
    sell = Trade.objects.get(side="sell")
    assert total(after, "nobitex", "rls") - total(before, "nobitex", "rls") == -buy.quote_amount
    assert total(after, "nobitex", "btc") - total(before, "nobitex", "btc") == (
        buy.quantity - buy.fee)
    # Wallex keeps toman: the trade is in rial.
    assert (total(after, "wallex", "TMN") - total(before, "wallex", "TMN")) * 10 == (
        sell.quote_amount - sell.fee)
    assert total(after, "wallex", "BTC") - total(before, "wallex", "BTC") == -sell.quantity


def test_the_legs_go_at_the_buffered_limits_and_fill_at_the_books_prices(trading_setup, btc):
    """Detection's buffered limits are what the sandbox receives over HTTP; the
    sandbox (as the exchanges do) fills a taker at the resting levels, and the
    trades are recorded at those prices, better than the limits."""
    from exchanges import registry
    from trading.services.balances import balances_store
    from trading.services.books import books_store
    from trading.services.detection import opportunities_detect

    # Given Nobitex asks 0.01 BTC at 100,040,000,000 rial and Wallex bids 0.01 at
    # 10,100,000,000 toman (101,000,000,000 rial); deeper levels do not cross
    sandbox = trading_setup
    sandbox.set_book("nobitex", "BTCIRT", asks=[["100040000000", "0.01"],
                                                ["103000000000", "5"]],
                     bids=[["99960000000", "5"]])
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[["10100000000", "0.01"], ["9000000000", "5"]])
    risk = RiskSettings.load()
    risk.slippage_bps = Decimal("10")
    risk.save()
    for name in ("nobitex", "wallex"):
        adapter = registry.adapter_for(name)
        books_store([adapter.get_order_book("BTC-IRR")])
        balances_store(name, adapter.balances())

    # When detection decides and execution sends
    report = opportunities_detect(enqueue_execution=lambda _id: None)
    opp = Opportunity.objects.get(pk__in=report.opportunity_ids)
    # 10 bps (fees 0.25 % and 0.4 % leave room for 14.7): buy 100,040,000,000 ×
    # 1.001 = 100,140,040,000; sell 101,000,000,000 × 0.999 = 100,899,000,000 rial.
    assert opp.details["slippage"]["binding"] == "configured"
    assert (opp.buy_price, opp.sell_price) == (Decimal("100140040000"), Decimal("100899000000"))
    opportunity_execute(opportunity_id=opp.pk)

    # Then the sandbox received the buffered limits, in each exchange's unit
    opp.refresh_from_db()
    buy, sell = opp.orders.filter(purpose="entry").order_by("side")
    engines = sandbox.world.engines
    received = {name: next(o for o in engines[name].orders.values()
                           if o.client_id == leg.client_order_id)
                for name, leg in (("nobitex", buy), ("wallex", sell))}
    assert received["nobitex"].price == Decimal("100140040000")  # rial
    assert received["wallex"].price == Decimal("10089900000")  # toman
    # and both legs filled at the book's levels, recorded at those prices
    assert opp.status == Opportunity.Status.DONE
    assert (buy.status, sell.status) == (OrderState.FILLED, OrderState.FILLED)
    assert [t.price for t in Trade.objects.filter(order=buy)] == [Decimal("100040000000")]
    assert [t.price for t in Trade.objects.filter(order=sell)] == [Decimal("101000000000")]
    assert (buy.average_price, sell.average_price) == (Decimal("100040000000"),
                                                       Decimal("101000000000"))
    # The realized P&L is the walked levels' (what was expected), not the worst case.
    assert opp.realized_pnl == Decimal("3059000") > opp.worst_case_profit


def test_no_leg_goes_alone_while_the_other_exchange_admits_no_order(trading_setup, btc):
    """Wallex asked everyone to back off (a 429): the opportunity is refused
    before either leg is sent, instead of a Nobitex buy to be unwound."""
    from exchanges.ratelimit import RateLimiter

    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    opp = _opportunity(btc)
    wallex = RateLimiter("wallex", {})
    wallex.record_backoff(30, "HTTP 429 in a test")
    try:
        result = opportunity_execute(opportunity_id=opp.pk)
    finally:
        wallex.reset()

    opp.refresh_from_db()
    assert result.outcome == "refused"
    assert opp.status == Opportunity.Status.REJECTED
    assert "wallex admits no order for" in opp.reason and "neither leg sent" in opp.reason
    assert opp.orders.count() == 0
    assert _placed(sandbox, "nobitex") == 0 and _placed(sandbox, "wallex") == 0


def test_detection_opens_nothing_on_an_exchange_that_admits_no_order(trading_setup, btc):
    """The same back-off, seen by detection: the spread is refused there with
    its reason (not opened to be refused at execution), and it opens once
    Wallex admits orders again."""
    from exchanges.ratelimit import RateLimiter
    from trading.detection.rejections import rejections_recent
    from trading.services.detection import opportunities_detect
    from trading.services.polling import balances_refresh, orderbooks_poll

    sandbox = trading_setup
    _wallex_pays_more(sandbox)
    orderbooks_poll(request_detection=lambda: None)
    balances_refresh()
    wallex = RateLimiter("wallex", {})
    wallex.record_backoff(30, "HTTP 429 in a test")
    try:
        report = opportunities_detect(enqueue_execution=lambda _id: None)
    finally:
        wallex.reset()
    opened = Opportunity.objects.filter(pk__in=report.opportunity_ids)
    assert not opened.filter(sell_exchange__name="wallex").exists()
    assert not opened.filter(buy_exchange__name="wallex").exists()
    line = next(x for x in rejections_recent().lines if x.reason == "exchange_busy")
    assert "wallex admits no order for" in line.last["figures"]["why"]

    report = opportunities_detect(enqueue_execution=lambda _id: None)
    assert Opportunity.objects.filter(pk__in=report.opportunity_ids,
                                      sell_exchange__name="wallex").exists()
