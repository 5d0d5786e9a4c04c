"""Detection on real Redis (books, balances, counters) and the real database.

The base scene (BTC-IRR, fees 0 unless a test sets them, prices in rial):

    nobitex asks  1000 × 1, 1010 × 2, 1050 × 5        (we buy here)
    invex   bids  1040 × 1.5, 1020 × 1, 1000 × 3      (we sell here)

Walk: 1 @1000/1040, 0.5 @1010/1040, 1 @1010/1020; then 1010 against 1000: stop.
Optimum 2.5 BTC, cost 2515, proceeds 2580, profit 65; limits 1010 and 1020.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from arbsite.redis import key, redis_client
from exchanges.models import ExchangeMarket
from exchanges.types import Balance, BookLevel, OrderBook
from tests.factories import make_exchange, make_market
from trading.detection.rejections import rejections_recent
from trading.models import Opportunity, RiskSettings
from trading.services.balances import balances_store
from trading.services.books import books_clear, books_store
from trading.services.detection import opportunities_detect
from trading.services.risk import kill_switch_set

NOW = timezone.now()


def book(exchange: str, market: str, *, bids=(), asks=()) -> OrderBook:
    return OrderBook(
        exchange=exchange, market=market,
        bids=tuple(BookLevel(D(p), D(a)) for p, a in bids),
        asks=tuple(BookLevel(D(p), D(a)) for p, a in asks),
        received_at=NOW,
    )


NOBITEX_BOOK = book("nobitex", "BTC-IRR", asks=[("1000", "1"), ("1010", "2"), ("1050", "5")],
                    bids=[("990", "5")])
INVEX_BOOK = book("invex", "BTC-IRR", bids=[("1040", "1.5"), ("1020", "1"), ("1000", "3")],
                  asks=[("1060", "5")])


def listing(exchange, market, **fields) -> ExchangeMarket:
    defaults = {"symbol": f"{market.base}{market.quote}", "amount_step": D("0.001"),
                "price_tick": D("1"), "min_order_value": D("0")}
    defaults.update(fields)
    return ExchangeMarket.objects.create(exchange=exchange, market=market, **defaults)


def balances(exchange: str, **amounts: str) -> None:
    balances_store(exchange, {asset: Balance(asset, D(v), D(v)) for asset, v in amounts.items()},
                   fetched_at=NOW)


def set_risk(**fields) -> None:
    row = RiskSettings.load()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()


def counters() -> dict[str, int]:
    """The rejections counted over the last hour, as the control panel reads them."""
    return rejections_recent().counts


@pytest.fixture(autouse=True)
def clean_redis():
    client = redis_client()

    def clear():
        books_clear()
        names = list(client.scan_iter(key("detection", "*"))) + \
            list(client.scan_iter(key("balances", "*")))
        if names:
            client.delete(*names)

    clear()
    yield
    clear()


@pytest.fixture
def sent(monkeypatch):
    """execute_opportunity.delay, our own boundary: record the ids it would send."""
    from trading import tasks

    calls: list[int] = []
    monkeypatch.setattr(tasks.execute_opportunity, "delay", calls.append)
    return calls


@pytest.fixture
def scene(db):
    """Two exchanges, fees 0, BTC-IRR listed on both, generous balances, no
    minimum profit and no order value cap: each test tightens one thing. No
    slippage buffer: the limits are the walked levels (the buffer's own
    cases are in test_slippage.py)."""
    nobitex = make_exchange("nobitex", taker_fee=D("0"))
    invex = make_exchange("invex", taker_fee=D("0"))
    market = make_market("BTC", "IRR")
    listing(nobitex, market)
    listing(invex, market)
    # The toy books sit 5 % apart: the mid-deviation check (tested in
    # test_book_sanity.py) is off here, like every other limit.
    set_risk(min_profit_pct=D("0"), min_profit_irr=D("0"), max_order_value_irr=D("1000000000"),
             max_book_age_ms=3000, max_exposure={}, max_book_deviation_pct=D("0"),
             slippage_bps=D("0"))
    balances("nobitex", IRR="1000000", BTC="0")
    balances("invex", IRR="0", BTC="10")
    books_store([NOBITEX_BOOK, INVEX_BOOK], fetched_at=NOW)
    return {"nobitex": nobitex, "invex": invex, "market": market}


def enqueue_execution(opportunity_id: int) -> None:
    """What the detection task passes: ``execute_opportunity.delay`` (looked
    up at each call, so the ``sent`` fixture sees it)."""
    from trading import tasks

    tasks.execute_opportunity.delay(opportunity_id)


def detect():
    return opportunities_detect(now=NOW + timedelta(milliseconds=250),
                                enqueue_execution=enqueue_execution)


# -- the optimum, fees, depth -------------------------------------------------------------


def test_a_cross_becomes_one_opportunity_with_its_audit_record(scene, sent,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = detect()

    opp = Opportunity.objects.get()
    assert report.opportunity_ids == [opp.id] and report.opportunities_created == 1
    assert (opp.buy_exchange.name, opp.sell_exchange.name) == ("nobitex", "invex")
    assert opp.status == Opportunity.Status.DETECTED
    assert opp.quote_asset == "IRR"
    assert opp.quantity == D("2.5")
    assert (opp.buy_price, opp.sell_price) == (D("1010"), D("1020"))
    assert opp.buy_vwap == D("1006")  # 2515 / 2.5
    assert opp.sell_vwap == D("1032")  # 2580 / 2.5
    assert opp.expected_profit == D("65")
    assert opp.expected_profit_pct == D("2.584493")  # 65 / 2515
    assert (opp.buy_fee_rate, opp.sell_fee_rate) == (0, 0)
    assert (opp.buy_book_age_ms, opp.sell_book_age_ms) == (250, 250)
    details = opp.details
    assert details["buy_levels"] == [["1000", "1"], ["1010", "1.5"]]
    assert details["sell_levels"] == [["1040", "1.5"], ["1020", "1"]]
    assert details["uncapped"]["quantity"] == "2.5"
    assert details["caps_applied"] == [] and details["binding_cap"] is None
    assert details["balances"]["buy"]["available"] == "1000000"
    assert details["balances"]["sell"]["available"] == "10"
    assert details["amount_step"] == "0.001"
    assert details["min_order_value"] == {"buy": "0", "sell": "0"}
    # the reverse pair (buy invex 1060, sell nobitex 990) is not crossed
    assert report.rejections == {"not_crossed": 1}
    assert report.pairs_checked == 2 and report.books_seen == 2
    # enqueued after commit, with the id
    assert len(callbacks) == 1
    assert sent == [opp.id]


def test_nothing_is_sent_before_commit(scene, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        detect()
    assert sent == [] and len(callbacks) == 1


def test_fees_move_the_optimum_and_the_limits(scene):
    # 1% each: effective bids 1029.6, 1009.8; asks 1010, 1020.1. After 1 @1000/1040
    # and 0.5 @1010/1040, the next bid (1009.8) is below the next ask (1020.1).
    scene["nobitex"].taker_fee = D("0.01")
    scene["nobitex"].save()
    scene["invex"].taker_fee = D("0.01")
    scene["invex"].save()

    detect()

    opp = Opportunity.objects.get()
    assert opp.quantity == D("1.5")
    assert (opp.buy_price, opp.sell_price) == (D("1010"), D("1040"))
    assert opp.expected_profit == D("24.35")  # 1560 × 0.99 − 1505 × 1.01
    assert (opp.buy_fee_rate, opp.sell_fee_rate) == (D("0.01"), D("0.01"))


def test_fees_can_turn_the_cross_unprofitable(scene):
    # 1040 × 0.97 = 1008.8 ≤ 1000 × 1.03 = 1030
    for name in ("nobitex", "invex"):
        scene[name].taker_fee = D("0.03")
        scene[name].save()

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections == {"not_crossed": 2}


def test_nothing_profitable_no_row(scene):
    books_store([book("invex", "BTC-IRR", bids=[("999", "3")], asks=[("1060", "1")])],
                fetched_at=NOW)

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.opportunities_created == 0
    assert counters() == {}  # a quiet market writes no counter


def test_wallex_book_in_rial_is_compared_with_rial(db, scene):
    # Wallex quotes BTCTMN in toman; its adapter stored this book in rial. Read as
    # toman (× 10) these bids would beat nobitex's 1000 asks; in rial they do not.
    wallex = make_exchange("wallex", taker_fee=D("0"))
    listing(wallex, scene["market"], symbol="BTCTMN", price_scale=D("10"))
    balances("wallex", IRR="1000000", BTC="10")
    books_store([book("wallex", "BTC-IRR", bids=[("995", "2")], asks=[("1100", "2")]),
                 book("invex", "BTC-IRR", bids=[("990", "1")], asks=[("1100", "1")])],
                fetched_at=NOW)

    detect()
    assert not Opportunity.objects.exists()

    # And a real rial cross with Wallex is priced in rial, not 10× over.
    books_store([book("wallex", "BTC-IRR", bids=[("1040", "0.5")], asks=[("1100", "2")])],
                fetched_at=NOW)
    detect()
    opp = Opportunity.objects.get()
    assert (opp.buy_exchange.name, opp.sell_exchange.name) == ("nobitex", "wallex")
    assert (opp.quantity, opp.sell_price, opp.expected_profit) == (D("0.5"), D("1040"), D("20"))


# -- caps ----------------------------------------------------------------------------------


def test_quote_balance_on_the_buyer_caps_the_size(scene):
    # 1 @1000 locks 1000; past it the limit is 1010: 1515 / 1010 = 1.5
    balances("nobitex", IRR="1515")

    detect()

    opp = Opportunity.objects.get()
    assert opp.quantity == D("1.5")
    assert (opp.buy_price, opp.sell_price) == (D("1010"), D("1040"))  # limits of the capped size
    assert opp.expected_profit == D("55")  # 1560 − 1505
    assert opp.details["caps_applied"] == ["balance_quote"]
    assert opp.details["binding_cap"] == "balance_quote"
    assert opp.details["uncapped"]["quantity"] == "2.5"


def test_base_balance_on_the_seller_caps_the_size(scene):
    balances("invex", BTC="0.7")

    detect()

    opp = Opportunity.objects.get()
    assert opp.quantity == D("0.7")
    assert (opp.buy_price, opp.sell_price) == (D("1000"), D("1040"))
    assert opp.expected_profit == D("28")
    assert opp.details["binding_cap"] == "balance_base"


def test_no_balance_data_rejects(scene):
    redis_client().delete(key("balances", "invex"))

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections["no_balance_data"] == 1
    example = json.loads(redis_client().get(key("detection", "last", "no_balance_data")))
    assert example["figures"]["exchanges"] == "invex"


def test_empty_balance_rejects_as_insufficient(scene):
    balances("nobitex", IRR="0")

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections["insufficient_balance"] == 1


def test_max_order_value_caps_each_leg_at_its_limit_price(scene):
    # sell leg: 1.5 @1040 would be 1560 > 1530, so 1530 / 1040 = 1.47115… → 1.471
    set_risk(max_order_value_irr=D("1530"))

    detect()

    opp = Opportunity.objects.get()
    assert opp.quantity == D("1.471")
    assert opp.quantity * opp.sell_price <= D("1530")
    assert opp.quantity * opp.buy_price <= D("1530")
    assert opp.expected_profit == D("54.13")  # 1529.84 − (1000 + 0.471 × 1010)
    assert opp.details["binding_cap"] == "max_order_value_sell"


def test_open_exposure_caps_the_size(scene):
    # 0.4 BTC already in flight (another market); limit 1 BTC: room 0.6
    usdt_market = make_market("BTC", "USDT")
    Opportunity.objects.create(
        market=usdt_market, buy_exchange=scene["nobitex"], sell_exchange=scene["invex"],
        quote_asset="USDT", quantity=D("0.4"), buy_price=1, sell_price=1, buy_vwap=1,
        sell_vwap=1, buy_fee_rate=0, sell_fee_rate=0, expected_profit=0, expected_profit_pct=0)
    set_risk(max_exposure={"BTC": "1"})

    detect()

    opp = Opportunity.objects.get(market=scene["market"])
    assert opp.quantity == D("0.6")
    assert opp.details["binding_cap"] == "exposure"
    assert opp.details["exposure_room"] == "0.6"


def test_no_exposure_room_rejects(scene):
    set_risk(max_exposure={"BTC": "0"})

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections["exposure_cap"] == 1


@pytest.mark.parametrize("steps", [("0.001", "0.1"), ("0.1", "0.001")])
def test_size_rounds_down_to_the_coarser_step(scene, steps):
    ExchangeMarket.objects.filter(exchange=scene["nobitex"]).update(amount_step=D(steps[0]))
    ExchangeMarket.objects.filter(exchange=scene["invex"]).update(amount_step=D(steps[1]))
    balances("invex", BTC="0.77")

    detect()

    opp = Opportunity.objects.get()
    assert opp.quantity == D("0.7")
    assert opp.details["amount_step"] == "0.1"


def test_below_the_listing_minimum_order_value_rejects(scene):
    # 2.5 × 1010 = 2525 on the buy leg
    ExchangeMarket.objects.filter(exchange=scene["nobitex"]).update(min_order_value=D("3000"))

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections["too_small"] == 1


# -- minimum profit --------------------------------------------------------------------------


def test_minimum_absolute_profit(scene):
    set_risk(min_profit_irr=D("66"))  # the optimum makes 65
    assert detect().rejections["below_min_profit"] == 1

    set_risk(min_profit_irr=D("65"))
    detect()
    assert Opportunity.objects.count() == 1


def test_minimum_profit_percent_of_the_buy_cost(scene):
    set_risk(min_profit_pct=D("2.6"))  # 65 / 2515 = 2.58 %
    assert detect().rejections["below_min_profit"] == 1
    assert not Opportunity.objects.exists()


def test_below_minimum_after_caps_is_its_own_reason(scene):
    set_risk(min_profit_irr=D("60"))
    balances("nobitex", IRR="1515")  # capped to 1.5, which makes 55

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections["below_min_profit_after_caps"] == 1
    example = json.loads(redis_client().get(key("detection", "last",
                                                "below_min_profit_after_caps")))
    assert example["figures"]["profit"] == "55"
    assert example["figures"]["uncapped_profit"] == "65"


# -- books, risk, in flight ------------------------------------------------------------------


def test_stale_books_are_skipped_and_counted(scene):
    report = opportunities_detect(now=NOW + timedelta(milliseconds=3001),
                                  enqueue_execution=enqueue_execution)

    assert not Opportunity.objects.exists()
    assert report.rejections == {"stale_book": 2}
    assert counters() == {"stale_book": 2}
    example = json.loads(redis_client().get(key("detection", "last", "stale_book")))
    assert example["market"] == "BTC-IRR"
    assert example["figures"]["buy_age_ms"] == "3001"
    assert redis_client().ttl(key("detection", "last", "stale_book")) > 0

    opportunities_detect(now=NOW + timedelta(milliseconds=3001),
                         enqueue_execution=enqueue_execution)
    assert counters() == {"stale_book": 4}


def test_missing_or_empty_book_is_skipped(scene):
    books_clear()
    books_store([NOBITEX_BOOK, book("invex", "BTC-IRR", asks=[("1060", "1")])], fetched_at=NOW)

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections == {"no_book": 1, "not_crossed": 1}


def test_kill_switch_does_nothing_and_says_why(scene):
    kill_switch_set(active=True, reason="maintenance", actor="test")

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.blocked == {"IRR": "kill switch on: maintenance"}
    assert report.pairs_checked == 0
    assert counters() == {"blocked": 1}


def test_an_in_flight_pair_is_not_detected_again(scene):
    detect()
    first = Opportunity.objects.get()

    report = detect()
    assert Opportunity.objects.count() == 1
    assert report.rejections["in_flight"] == 1

    first.status = Opportunity.Status.DONE
    first.save()
    detect()
    assert Opportunity.objects.count() == 2


def test_queries_per_cycle_do_not_grow_with_pairs_or_in_flight_rows(scene,
                                                                     django_assert_num_queries):
    detect()  # one in flight now
    # Per cycle: listings, settings with today's P&L (the blockers), in-flight,
    # the protections in force, and what was committed since the balances were
    # read (fills, live orders, detected opportunities).
    with django_assert_num_queries(7):
        report = opportunities_detect(now=NOW + timedelta(milliseconds=3001),  # stale: no write
                                      enqueue_execution=enqueue_execution)
    assert report.opportunities_created == 0


def test_one_opportunity_per_market_per_cycle_the_most_profitable(scene):
    # wallex bids 1100 × 1: buying on nobitex and selling there makes more than invex
    wallex = make_exchange("wallex", taker_fee=D("0"))
    listing(wallex, scene["market"], symbol="BTCTMN", price_scale=D("10"))
    balances("wallex", IRR="0", BTC="10")
    books_store([book("wallex", "BTC-IRR", bids=[("1100", "1")], asks=[("1200", "1")])],
                fetched_at=NOW)

    report = detect()

    opp = Opportunity.objects.get()
    assert (opp.buy_exchange.name, opp.sell_exchange.name) == ("nobitex", "wallex")
    assert opp.expected_profit == D("100")  # 1 @1000 sold @1100 beats 65 via invex
    assert report.rejections["outbid"] == 1
    assert opp.details["outbid"][0]["sell"] == "invex"


def test_balances_spoken_for_by_one_market_are_not_spent_again(scene):
    # ETH-IRR crosses the same way; nobitex holds IRR for only one of them.
    eth = make_market("ETH", "IRR")
    listing(scene["nobitex"], eth)
    listing(scene["invex"], eth)
    books_store([book("nobitex", "ETH-IRR", asks=[("1000", "1")]),
                 book("invex", "ETH-IRR", bids=[("1100", "1")])], fetched_at=NOW)
    balances("nobitex", IRR="3000")
    balances("invex", BTC="10", ETH="10")

    detect()

    btc = Opportunity.objects.get(market=scene["market"])  # BTC-IRR first (code order)
    eth_opp = Opportunity.objects.get(market=eth)
    assert btc.quantity == D("2.5")  # 2.5 × 1010 = 2525 locked
    assert eth_opp.quantity == D("0.475")  # (3000 − 2525) / 1000
    assert eth_opp.details["balances"]["buy"]["available"] == "475"
    assert eth_opp.details["balances"]["buy"]["cached"] == "3000"


def test_disabled_or_paused_exchange_is_not_traded(scene):
    scene["invex"].trading_enabled = False
    scene["invex"].save()

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.pairs_checked == 0


def test_the_bench_books_cross_where_they_should():
    """The bench's synthetic cycle is meaningful: every 4th market crossed (the
    first exchange 1.5 % above the others), the rest quiet."""
    from arbsite.bench.detection import synthetic_cycle
    from trading.detection.cycle import cycle_evaluate

    result = cycle_evaluate(synthetic_cycle())

    assert sorted(p.market for p in result.plans) == [f"C{m:02d}-IRR" for m in (0, 4, 8, 12, 16)]
    assert all(p.buy_exchange != "nobitex" and p.sell_exchange == "nobitex" for p in result.plans)
    assert result.pairs_checked == 120 and result.books_seen == 60
    assert {str(r.reason) for r in result.rejections} == {"not_crossed", "outbid"}
