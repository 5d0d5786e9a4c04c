"""How a figure or a moment reads (arbsite.formatting): separators, the
decimals a step or tick calls for, the unit, fees as a percentage, and
trading-day time with seconds and the zone's label. Storage is untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template

from arbsite import formatting as f

D = Decimal


def test_an_18_decimal_price_reads_at_its_tick_with_separators_and_its_unit():
    assert f.money(D("97293509161.200000000000000000"), "IRR", step=D("1")) == (
        "97,293,509,161 rial")
    assert f.money(D("3527783820.000000000000000000"), "IRR", step=D("10")) == (
        "3,527,783,820 rial")
    assert f.money(D("64123.456"), "USDT", step=D("0.01")) == "64,123.46 USDT"


def test_an_amount_reads_at_its_step_in_its_asset():
    assert f.money(D("0.000995000000000000"), "BTC", step=D("0.000001")) == "0.000995 BTC"
    assert f.money(D("98.960000000000000000"), "USDT", step=D("0.01")) == "98.96 USDT"
    assert f.places_of(D("0.000001")) == 6 and f.places_of(D("10")) == 0
    assert f.places_of(D("0.0005")) == 4 and f.places_of(D("1.000000000000000000")) == 0


def test_without_a_step_each_asset_has_its_places():
    assert f.money(D("464609.007743125"), "IRR") == "464,609 rial"
    assert f.money(D("21.45"), "USDT") == "21.4500 USDT"
    assert f.money(D("0.0000024875"), "BTC") == "0.00000249 BTC"


def test_signs_and_zero():
    assert f.money(D("810255.94"), "IRR", signed=True) == "+810,256 rial"
    assert f.money(D("-837482.65"), "IRR", signed=True) == "-837,483 rial"
    assert f.money(D("-0.0001"), "IRR") == "0 rial"  # never "-0"
    assert f.money(D("0E-18"), "BTC") == "0 BTC" and f.money(D("0"), "USDT") == "0 USDT"
    assert f.money(None, "IRR") == "-"


def test_toman_is_never_the_unit_shown():
    assert f.unit("IRR") == "rial" and f.unit("usdt") == "USDT" and f.unit("BTC") == "BTC"


def test_fee_rates_as_percentages():
    assert f.rate(D("0.002500")) == "0.25%"
    assert f.rate(D("0.00125")) == "0.125%"
    assert f.rate(D("0.004")) == "0.4%" and f.rate(D("0")) == "0%"
    assert f.percent(D("0.468970")) == "0.47%"


def test_the_plain_form_is_the_rounded_digits_for_csv():
    assert f.plain(D("-8404000.4"), "IRR") == "-8404000"
    assert f.plain(D("21.45"), "USDT") == "21.4500"
    assert f.plain(D("-0.00001"), "USDT") == "0.0000"


def test_moments_are_trading_day_time_with_seconds_and_the_zone(settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    at = datetime(2026, 12, 1, 9, 12, 2, 345000, tzinfo=UTC)
    assert f.moment(at) == "2026-12-01 12:42:02 Tehran"
    assert f.moment(at, date=False, millis=True) == "12:42:02.345 Tehran"
    assert f.moment(at.isoformat()) == "2026-12-01 12:42:02 Tehran"  # as kept in Redis
    assert f.moment_utc(at) == "2026-12-01 09:12:02 UTC"
    assert f.moment("not a time") == "not a time" and f.moment(None) == "-"
    # The day changes at Tehran's midnight, not UTC's.
    assert f.moment(datetime(2026, 12, 1, 21, 0, tzinfo=UTC)) == "2026-12-02 00:30:00 Tehran"


def test_another_trading_zone_is_labelled_as_such(settings):
    settings.TRADING_DAY_TZ = "UTC"
    assert f.moment(datetime(2026, 12, 1, 9, 12, 2, tzinfo=UTC)) == "2026-12-01 09:12:02 UTC"
    settings.TRADING_DAY_TZ = "America/New_York"
    assert f.zone_label() == "New York"


@pytest.mark.parametrize("template, expected", [
    ('{{ v|money:"IRR" }}', "97,293,509,161 rial"),
    ('{{ v|money_signed:"IRR" }}', "+97,293,509,161 rial"),
    ("{{ r|rate }}", "0.25%"),
    ("{{ at|moment }}", "2026-12-01 12:42:02 Tehran"),
    ("{{ at|clock }}", "12:42:02 Tehran"),
    ("{{ age|ago }}", "0.4 s ago"),
])
def test_the_template_filters_are_the_same_functions(settings, template, expected):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    context = Context({"v": D("97293509161.200000000000000000"), "r": D("0.0025"),
                       "at": datetime(2026, 12, 1, 9, 12, 2, tzinfo=UTC), "age": 0.44})
    assert Template("{% load arbsite_format %}" + template).render(context) == expected


def test_moment_html_keeps_the_utc_moment_for_the_reader(settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"
    html = Template("{% load arbsite_format %}{{ at|moment_html }}").render(
        Context({"at": datetime(2026, 12, 1, 9, 12, 2, tzinfo=UTC)}))
    assert html == ('<time datetime="2026-12-01T09:12:02Z" title="2026-12-01 09:12:02 UTC">'
                    "2026-12-01 12:42:02 Tehran</time>")
