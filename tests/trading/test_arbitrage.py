"""The depth walk, on books small enough to follow by hand."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from exchanges.types import BookLevel
from trading.services.arbitrage import (
    floor_to,
    max_within_budget,
    optimum_walk,
    pair_profit,
    prepare_asks,
    prepare_bids,
    side_fill,
)


def levels(*pairs: tuple[str, str]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(D(p), D(a)) for p, a in pairs)


ASKS = levels(("100", "1"), ("101", "2"), ("105", "5"))
BIDS = levels(("104", "1.5"), ("102", "1"), ("100", "3"))


def test_without_fees_the_walk_stops_where_the_next_bid_no_longer_beats_the_next_ask():
    # 1 @100/104, 0.5 @101/104, 1 @101/102; next would be 101 against 100: stop.
    best = optimum_walk(prepare_asks(ASKS, D("0")), prepare_bids(BIDS, D("0")))

    assert best is not None
    assert best.quantity == D("2.5")
    assert best.buy_notional == D("251.5")  # 100 + 50.5 + 101
    assert best.sell_notional == D("258")  # 104 + 52 + 102
    assert best.profit == D("6.5")
    assert (best.buy_limit, best.sell_limit) == (D("101"), D("102"))  # worst levels used
    assert (best.ask_levels, best.bid_levels) == (2, 2)


def test_fees_move_the_optimum_to_a_smaller_size():
    # 1% each side: effective asks 101, 102.01 …; effective bids 102.96, 100.98 …
    # After 1 @100/104 and 0.5 @101/104, the next bid (100.98) is below the next
    # ask (102.01): stop at 1.5, where 156×0.99 − 150.5×1.01 = 2.435.
    best = optimum_walk(prepare_asks(ASKS, D("0.01")), prepare_bids(BIDS, D("0.01")))

    assert best is not None
    assert best.quantity == D("1.5")
    assert best.profit == D("2.435")
    assert (best.buy_limit, best.sell_limit) == (D("101"), D("104"))


def test_fees_per_exchange_are_not_symmetric():
    # Only the sell side pays 2%: effective bids 101.92, 99.96, 98; asks unchanged.
    # 1 @100/104, 0.5 @101/104; next bid 99.96 < ask 101: stop at 1.5.
    best = optimum_walk(prepare_asks(ASKS, D("0")), prepare_bids(BIDS, D("0.02")))

    assert best is not None
    assert best.quantity == D("1.5")
    assert best.profit == D("156") * D("0.98") - D("150.5")


def test_fees_can_turn_a_cross_unprofitable():
    asks, bids = levels(("100", "1")), levels(("100.5", "1"))

    assert optimum_walk(prepare_asks(asks, D("0")), prepare_bids(bids, D("0"))).profit == D("0.5")
    # 100.5 × 0.9975 = 100.24875 ≤ 100 × 1.0025 = 100.25
    assert optimum_walk(prepare_asks(asks, D("0.0025")), prepare_bids(bids, D("0.0025"))) is None


def test_no_cross_and_empty_sides():
    asks = prepare_asks(levels(("100", "1")), D("0"))
    assert optimum_walk(asks, prepare_bids(levels(("100", "1")), D("0"))) is None  # equal: no
    assert optimum_walk(asks, prepare_bids((), D("0"))) is None
    assert optimum_walk(prepare_asks((), D("0")), prepare_bids(BIDS, D("0"))) is None


def test_the_walk_ends_with_the_shallower_book():
    best = optimum_walk(prepare_asks(levels(("10", "0.3")), D("0")),
                        prepare_bids(levels(("20", "1"), ("19", "1")), D("0")))

    assert best.quantity == D("0.3")
    assert (best.buy_limit, best.sell_limit) == (D("10"), D("20"))


def test_zero_amount_levels_are_ignored():
    side = prepare_asks(levels(("100", "0"), ("101", "1")), D("0"))
    assert side.prices == (D("101"),)


def test_side_fill_takes_the_best_levels_first():
    fill = side_fill(prepare_asks(ASKS, D("0")), D("2"))

    assert fill.notional == D("201")
    assert fill.limit == D("101")
    assert fill.vwap == D("100.5")
    assert fill.levels == ((D("100"), D("1")), (D("101"), D("1")))
    with pytest.raises(ValueError, match="too shallow"):
        side_fill(prepare_asks(ASKS, D("0")), D("9"))


def test_pair_profit_is_the_same_formula_as_the_walk():
    asks, bids = prepare_asks(ASKS, D("0.01")), prepare_bids(BIDS, D("0.01"))
    best = optimum_walk(asks, bids)
    profit = pair_profit(side_fill(asks, best.quantity), side_fill(bids, best.quantity), asks, bids)

    assert profit == best.profit


def test_the_walk_finds_the_maximum_on_random_books():
    rng = random.Random(7)
    for _ in range(200):
        ask_prices = sorted(D(rng.randint(900, 1100)) for _ in range(6))
        bid_prices = sorted((D(rng.randint(900, 1100)) for _ in range(6)), reverse=True)
        asks = prepare_asks(tuple(BookLevel(p, D(rng.randint(1, 9)) / 4) for p in ask_prices),
                            D(rng.choice(["0", "0.001", "0.0025", "0.004"])))
        bids = prepare_bids(tuple(BookLevel(p, D(rng.randint(1, 9)) / 4) for p in bid_prices),
                            D(rng.choice(["0", "0.001", "0.0025", "0.004"])))
        best = optimum_walk(asks, bids)
        depth = min(sum(asks.amounts), sum(bids.amounts))
        grid = [depth * k / 40 for k in range(1, 41)]
        profits = [pair_profit(side_fill(asks, q), side_fill(bids, q), asks, bids) for q in grid]
        if best is None:
            assert max(profits) <= 0
        else:
            assert best.profit > 0
            assert best.profit >= max(profits)


def test_floor_to_rounds_down_only():
    assert floor_to(D("1.23456789"), D("0.0001")) == D("1.2345")
    assert floor_to(D("0.00009"), D("0.0001")) == 0
    assert floor_to(D("-1"), D("0.1")) == 0


def test_budget_on_the_ask_side_is_value_at_the_limit_price():
    asks = prepare_asks(ASKS, D("0"))
    # 1 @100 is worth 100 ≤ 151.5; past it the limit is 101: 151.5 / 101 = 1.5
    assert max_within_budget(asks, D("151.5"), upto=D("2.5")) == D("1.5")
    # with a 1% fee factor a size locks q × limit × 1.01
    assert (max_within_budget(asks, D("151.5"), upto=D("2.5"), factor=D("1.01"))
            == D("151.5") / D("102.01"))
    # 1 @100 locks exactly 101; one unit more needs limit 101 (102.01 each): stay at 1
    assert max_within_budget(asks, D("101"), upto=D("2.5"), factor=D("1.01")) == D("1")
    assert max_within_budget(asks, D("1000"), upto=D("2.5")) == D("2.5")  # not binding
    assert max_within_budget(asks, D("0"), upto=D("2.5")) == 0


def test_budget_on_the_bid_side_stops_where_it_first_binds():
    bids = prepare_bids(levels(("1040", "1.5"), ("1020", "1")), D("0"))
    # 1.5 @1040 = 1560 > 1550: binds at 1550/1040 inside the first level, although
    # 1.51 (limit 1020, worth 1540.2) would fit again — 1.495 would not (1554.8).
    cap = max_within_budget(bids, D("1550"), upto=D("2.5"))
    assert cap == D("1550") / D("1040")
    assert cap * D("1040") <= D("1550")


def test_budget_caps_hold_for_every_smaller_size_on_random_books():
    rng = random.Random(11)
    for _ in range(100):
        ask_prices = sorted(D(rng.randint(900, 1100)) for _ in range(5))
        bid_prices = sorted((D(rng.randint(900, 1100)) for _ in range(5)), reverse=True)
        for side in (prepare_asks(tuple(BookLevel(p, D(rng.randint(1, 9)) / 4)
                                        for p in ask_prices), D("0.0025")),
                     prepare_bids(tuple(BookLevel(p, D(rng.randint(1, 9)) / 4)
                                        for p in bid_prices), D("0.0025"))):
            upto = sum(side.amounts) * D(rng.randint(1, 10)) / 10
            budget = D(rng.randint(100, 6000))
            worst = side_fill(side, upto).limit
            cap = max_within_budget(side, budget, upto=upto, factor=side.factor)
            # the O(1) answer with the known worst price is the same answer
            assert max_within_budget(side, budget, upto=upto, factor=side.factor,
                                     limit=worst) == cap
            assert 0 <= cap <= upto
            for k in range(1, 21):
                q = cap * k / 20
                assert q * side_fill(side, q).limit * side.factor <= budget * D("1.000000001")
