"""The slippage buffer (trading/detection/slippage.py): how far beyond the
worst walked level each leg's limit goes, against hand-computed cases, and
what detection records of it.

Notation of the hand computations: ``a`` = sell level × (1 − sell fee),
``b`` = buy level × (1 + buy fee), ``m`` = minimum profit % / 100, ``q`` the
size. The bounds on the buffer β (a fraction; × 10 000 = bps, floored to
0.01 bps):

    min_profit_abs: β ≤ (a − b − min_abs / q) / (a + b)
    min_profit_pct: β ≤ (a − (1 + m) b) / (a + (1 + m) b)
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from exchanges.types import BookLevel, OrderBook
from tests.factories import make_exchange, make_market
from tests.trading.test_detection import balances, listing, set_risk
from trading.detection.slippage import (
    SlippageSetting,
    buffer_apply,
    limit_prices,
    overrides_parse,
)
from trading.models import Opportunity, RiskSettings
from trading.services.books import books_clear, books_store
from trading.services.detection import opportunities_detect

DEFAULT = SlippageSetting(D("10"), "default")


def apply(**overrides):
    """One leg pair of size 1 at 1000 (buy) and 1010 (sell), no fees, tick
    0.01, no minimum profit; each case changes what it is about."""
    figures = {
        "setting": DEFAULT, "quantity": D("1"), "buy_level": D("1000"),
        "sell_level": D("1010"), "buy_fee": D("0"), "sell_fee": D("0"),
        "buy_tick": D("0.01"), "sell_tick": D("0.01"), "min_profit_abs": D("0"),
        "min_profit_pct": D("0"),
    }
    figures.update(overrides)
    return buffer_apply(**figures)


# -- the bounds, by hand ------------------------------------------------------------


def test_the_buffer_fits_as_configured():
    # 10 bps: buy 1000 × 1.001 = 1001, sell 1010 × 0.999 = 1008.99 (exact on the tick).
    # Bound: (1010 − 1000) / 2010 = 0.0049751… → 49.75 bps, far above 10.
    buffer = apply()
    assert (buffer.bps, buffer.binding) == (D("10"), "configured")
    assert (buffer.buy_limit, buffer.sell_limit) == (D("1001"), D("1008.99"))
    assert buffer.bounds["min_profit_abs"] == D("49.75")
    assert buffer.worst_profit == D("7.99")  # 1008.99 − 1001
    # The walked levels are kept beside the limits.
    assert (buffer.buy_level, buffer.sell_level) == (D("1000"), D("1010"))


def test_the_minimum_profit_reduces_the_buffer():
    # min_abs 8: β ≤ (1010 − 1000 − 8) / 2010 = 0.000995024… → 9.95 bps.
    # buy 1000 × 1.000995 = 1000.995 → down to 1000.99; sell 1010 × 0.999005 =
    # 1008.99505 → up to 1009.00. Worst case 1009 − 1000.99 = 8.01 ≥ 8.
    buffer = apply(min_profit_abs=D("8"))
    assert (buffer.bps, buffer.binding) == (D("9.95"), "min_profit_abs")
    assert (buffer.buy_limit, buffer.sell_limit) == (D("1000.99"), D("1009.00"))
    assert buffer.worst_profit == D("8.01")
    assert buffer.worst_profit >= D("8")


def test_the_minimum_profit_percentage_reduces_the_buffer_with_fees():
    # q 2, buy fee 0.1 %, sell fee 0.2 %, minimum 0.5 %, 20 bps asked.
    # a = 1010 × 0.998 = 1007.98, b = 1000 × 1.001 = 1001.
    # pct: (1007.98 − 1.005 × 1001) / (1007.98 + 1.005 × 1001) = 1.975 / 2013.985
    #      = 0.00098064… → 9.80 bps (binds); abs: 6.98 / 2008.98 → 34.74 bps.
    # buy 1000 × 1.00098 = 1000.98; sell 1010 × 0.99902 = 1009.0102 → up to 1009.02.
    # Worst: 2 × (1009.02 × 0.998 − 1000.98 × 1.001) = 2 × (1007.00196 − 1001.98098)
    #      = 10.04196 on a cost of 2 × 1001.98098 = 2003.96196: 0.501105 % ≥ 0.5 %.
    buffer = apply(setting=SlippageSetting(D("20"), "default"), quantity=D("2"),
                   buy_fee=D("0.001"), sell_fee=D("0.002"), min_profit_pct=D("0.5"))
    assert (buffer.bps, buffer.binding) == (D("9.80"), "min_profit_pct")
    assert buffer.bounds == {"configured": D("20"), "min_profit_abs": D("34.74"),
                             "min_profit_pct": D("9.80")}
    assert (buffer.buy_limit, buffer.sell_limit) == (D("1000.98"), D("1009.02"))
    assert buffer.worst_profit == D("10.04196")
    assert buffer.worst_profit_pct == D("0.501105")


def test_no_buffer_when_the_profit_is_already_at_the_minimum():
    # 1010 − 1000 = 10 = the minimum: (10 − 10) / 2010 = 0.
    buffer = apply(min_profit_abs=D("10"))
    assert (buffer.bps, buffer.binding) == (D("0"), "min_profit_abs")
    assert (buffer.buy_limit, buffer.sell_limit) == (D("1000"), D("1010"))
    assert buffer.worst_profit == D("10")


def test_no_buffer_when_the_worst_levels_already_make_less_than_the_minimum():
    # A size walked to its last profitable unit: 1 × (1010 − 1000) = 10 < 12.
    buffer = apply(min_profit_abs=D("12"))
    assert buffer.bps == D("0")
    assert (buffer.buy_limit, buffer.sell_limit) == (D("1000"), D("1010"))


def test_ticks_round_each_side_towards_its_walked_level():
    # 25 bps on tick 2: buy 1000 × 1.0025 = 1002.5 → DOWN to 1002 (never more
    # than the buffer); sell 1010 × 0.9975 = 1007.475 → UP to 1008.
    assert limit_prices(buy_level=D("1000"), sell_level=D("1010"), bps=D("25"),
                        buy_tick=D("2"), sell_tick=D("2")) == (D("1002"), D("1008"))
    # 15 bps on a 10-rial tick (Wallex's toman, Nobitex's IRT): 1001.5 → 1000,
    # 1008.485 → 1010: both back at the levels, no buffer rather than too much.
    assert limit_prices(buy_level=D("1000"), sell_level=D("1010"), bps=D("15"),
                        buy_tick=D("10"), sell_tick=D("10")) == (D("1000"), D("1010"))
    # Different ticks per leg: each side on its own listing's tick.
    assert limit_prices(buy_level=D("1000"), sell_level=D("1010"), bps=D("15"),
                        buy_tick=D("0.5"), sell_tick=D("10")) == (D("1001.5"), D("1010"))


def test_what_the_buy_locks_and_the_order_values_bound_the_buffer():
    # Quote available 1003 for q 1 at 1000, no fee: β ≤ 1003 / 1000 − 1 → 30 bps.
    assert apply(setting=SlippageSetting(D("50"), "default"),
                 quote_available=D("1003")).binding == "balance_quote"
    assert apply(setting=SlippageSetting(D("50"), "default"),
                 quote_available=D("1003")).bps == D("30")
    # Maximum order value 1002: β ≤ 1002 / 1000 − 1 → 20 bps.
    capped = apply(setting=SlippageSetting(D("50"), "default"), max_order_value=D("1002"))
    assert (capped.bps, capped.binding, capped.buy_limit) == (D("20"), "max_order_value_buy",
                                                              D("1002"))
    # Sell minimum value 1008: β ≤ 1 − 1008 / 1010 = 0.00198… → 19.80 bps;
    # 1010 × 0.99802 = 1008.0002 → up to 1008.01, above the minimum.
    low = apply(setting=SlippageSetting(D("50"), "default"), sell_min_order_value=D("1008"))
    assert (low.bps, low.binding, low.sell_limit) == (D("19.80"), "min_order_value_sell",
                                                      D("1008.01"))


# -- the per-market overrides ------------------------------------------------------------


def test_overrides_are_parsed_strictly():
    known = ["BTC-IRR", "USDT-IRR"]
    assert overrides_parse({"BTC-IRR": "15", "USDT-IRR": "0.5"}, known_markets=known) == {
        "BTC-IRR": D("15"), "USDT-IRR": D("0.5")}
    assert overrides_parse({}, known_markets=known) == {}
    for bad, says in (
        ({"BTC-IRR": 15}, "decimal string"),
        ({"BTC-IRR": "1e"}, "not a decimal number"),
        ({"BTC-IRR": "-1"}, "outside 0 to 500"),
        ({"BTC-IRR": "501"}, "outside 0 to 500"),
        ({"BTC-IRR": "NaN"}, "outside 0 to 500"),
        ({"BTC-IRR": "1.005"}, "more than two decimals"),
        ({"btc-irr": "1"}, "write it BTC-IRR"),
        ({"BTCIRT": "1"}, "not a market code"),
        ({"ETH-IRR": "1"}, "not a market of this app"),
        (["BTC-IRR"], "give an object"),
    ):
        with pytest.raises(ValueError, match=says):
            overrides_parse(bad, known_markets=known)


@pytest.mark.django_db
def test_the_model_refuses_a_bad_override_with_a_clear_error():
    make_market("BTC", "IRR")
    row = RiskSettings.load()
    row.slippage_bps_by_market = {"BTC-IRR": 12}
    with pytest.raises(ValidationError) as caught:
        row.full_clean()
    assert "decimal string" in str(caught.value.message_dict["slippage_bps_by_market"])
    row.slippage_bps_by_market = {"BTC-IRR": "12"}
    row.full_clean()


@pytest.mark.django_db
def test_the_risk_settings_form_shows_the_error_and_saves_nothing(admin_client):
    make_market("BTC", "IRR")
    row = RiskSettings.load()
    url = reverse("admin:trading_risksettings_change", args=[row.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["slippage_bps_by_market"] = '{"BTC-IRR": 15, "XRP-IRR": "2"}'
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors["slippage_bps_by_market"]
    assert "decimal string" in errors[0] and "'XRP-IRR' is not a market of this app" in errors[0]
    assert RiskSettings.load().slippage_bps_by_market == {}
    data["slippage_bps_by_market"] = '{"BTC-IRR": "15"}'
    assert admin_client.post(url, data).status_code == 302
    assert RiskSettings.load().slippage_bps_by_market == {"BTC-IRR": "15"}


# -- detection records it -----------------------------------------------------------------

NOW = timezone.now()


def book(exchange, *, bids=(), asks=()):
    return OrderBook(exchange=exchange, market="BTC-IRR",
                     bids=tuple(BookLevel(D(p), D(a)) for p, a in bids),
                     asks=tuple(BookLevel(D(p), D(a)) for p, a in asks), received_at=NOW)


@pytest.fixture
def crossed(db):
    """Buy 1 BTC on nobitex at 1000, sell on invex at 1100 (rial, tick 1),
    buy fee 0.1 %, sell fee 0.2 %, minimum profit 0.5 % and 80 rial."""
    books_clear()
    nobitex = make_exchange("nobitex", taker_fee=D("0.001"))
    invex = make_exchange("invex", taker_fee=D("0.002"))
    market = make_market("BTC", "IRR")
    listing(nobitex, market)
    listing(invex, market)
    set_risk(min_profit_pct=D("0.5"), min_profit_irr=D("80"),
             max_order_value_irr=D("1000000000"), max_book_age_ms=3000, max_exposure={},
             slippage_bps=D("10"), slippage_bps_by_market={},
             max_book_deviation_pct=D("0"))  # the two toy books sit 10 % apart
    balances("nobitex", IRR="1000000", BTC="0")
    balances("invex", IRR="0", BTC="10")
    books_store([book("nobitex", asks=[("1000", "1")], bids=[("990", "1")]),
                 book("invex", bids=[("1100", "1")], asks=[("1110", "1")])], fetched_at=NOW)
    yield market
    books_clear()


def detect() -> Opportunity:
    opportunities_detect(now=NOW + timedelta(milliseconds=100), enqueue_execution=lambda _: None)
    return Opportunity.objects.get()


def test_detection_places_the_buffer_and_records_it(crossed):
    # 10 bps: buy 1000 × 1.001 = 1001; sell 1100 × 0.999 = 1098.9 → up to 1099.
    # Expected (VWAP = the level, one level each): 1100 × 0.998 − 1000 × 1.001 = 96.8.
    # Worst: 1099 × 0.998 − 1001 × 1.001 = 1096.802 − 1002.001 = 94.801.
    opp = detect()
    assert (opp.buy_price, opp.sell_price) == (D("1001"), D("1099"))
    assert (opp.buy_vwap, opp.sell_vwap) == (D("1000"), D("1100"))
    assert opp.expected_profit == D("96.8")
    assert opp.worst_case_profit == D("94.801")
    record = opp.details["slippage"]
    assert record["configured_bps"] == "10" and record["source"] == "default"
    assert (record["bps"], record["binding"]) == ("10", "configured")
    assert (record["buy_level"], record["sell_level"]) == ("1000", "1100")
    assert (record["buy_limit"], record["sell_limit"]) == ("1001", "1099")
    assert record["worst_profit"] == "94.801"


def test_detection_records_the_minimum_profit_binding_the_buffer(crossed):
    # Minimum 95 rial: a = 1097.8, b = 1001: (96.8 − 95) / 2098.8 = 0.000857…
    # → 8.57 bps. buy 1000 × 1.000857 = 1000.857 → 1000; sell 1100 × 0.999143
    # = 1099.0573 → 1100: on a 1-rial tick nothing is left of it, and the worst
    # case is the walked levels' 96.8.
    set_risk(min_profit_irr=D("95"))
    opp = detect()
    record = opp.details["slippage"]
    assert (record["bps"], record["binding"]) == ("8.57", "min_profit_abs")
    assert (opp.buy_price, opp.sell_price) == (D("1000"), D("1100"))
    assert opp.worst_case_profit == D("96.8")


def test_a_market_override_beats_the_default(crossed):
    set_risk(slippage_bps=D("10"), slippage_bps_by_market={"BTC-IRR": "30"})
    # 30 bps: buy 1003; sell 1100 × 0.997 = 1096.7 → 1097.
    opp = detect()
    assert (opp.buy_price, opp.sell_price) == (D("1003"), D("1097"))
    assert opp.details["slippage"]["source"] == "market"
    assert opp.details["slippage"]["configured_bps"] == "30"


def test_a_market_override_of_zero_turns_the_buffer_off(crossed):
    set_risk(slippage_bps=D("10"), slippage_bps_by_market={"BTC-IRR": "0"})
    opp = detect()
    assert (opp.buy_price, opp.sell_price) == (D("1000"), D("1100"))
    assert opp.worst_case_profit == opp.expected_profit == D("96.8")


def test_the_decision_table_shows_the_buffer(crossed, admin_client):
    opp = detect()
    page = admin_client.get(reverse("admin:trading_opportunity_change", args=[opp.pk]))
    text = page.content.decode()
    assert "Slippage buffer" in text
    assert "10 bps (default 10 bps, as configured): buy limit 1,001 rial (walked 1,000 rial)" \
        in text
    assert "sell limit 1,099 rial (walked 1,100 rial)" in text
    assert "Worst case, both legs at their limits" in text and "+95 rial" in text  # rial: whole


def test_an_override_stored_around_the_form_is_logged_and_the_default_applies(crossed, caplog):
    # Written without full_clean (a shell): a JSON number, not a decimal string
    set_risk(slippage_bps=D("10"), slippage_bps_by_market={"BTC-IRR": 30})
    opp = detect()
    assert opp.details["slippage"]["source"] == "default"
    assert (opp.buy_price, opp.sell_price) == (D("1001"), D("1099"))
    assert "slippage override ignored" in caplog.text and "BTC-IRR" in caplog.text
