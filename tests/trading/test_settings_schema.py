"""JSON settings have a schema (arbsite/settings_schema.py): the admin refuses
a malformed value with an error under its field and saves nothing, setup
reports a stored one, and detection skips only the asset whose setting it
cannot read (issue 10 item 5)."""

from __future__ import annotations

import json
import logging
from decimal import Decimal as D

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from tests.admin.conftest import make_user
from tests.factories import make_market
from tests.trading import test_detection as detection
from tests.trading.test_detection import INVEX_BOOK, NOBITEX_BOOK, balances, book, detect, listing
from trading.detection.rejections import rejections_recent
from trading.models import MonitorSettings, Opportunity, RiskSettings
from trading.services.books import books_store
from trading.services.setup import SetupReport, settings_check

# Detection's scene (BTC-IRR crossed between nobitex and invex) and its Redis cleaning.
scene = detection.scene
clean_redis = detection.clean_redis

BAD_AMOUNTS = [
    ('{"BTC": "0,05"}', "comma"),
    ('["BTC", "0.05"]', "JSON object"),
    ('"0.05"', "JSON object"),
    ('{"BTC": 0.05}', "as a string"),
    ('{"btc": "0.05"}', "not an asset name"),
    ('{"BTC": "-1"}', "non-negative decimal"),
    ('{"BTC": "1e3"}', "non-negative decimal"),
    ('{"BTC": "NaN"}', "non-negative decimal"),
    ('{"BTC": "Infinity"}', "non-negative decimal"),
    ('{"BTC": " 1"}', "non-negative decimal"),
    ('{"BTC": {"max": "1"}}', "as a string"),
]

def _form_data(client, url: str) -> dict[str, str]:
    """What the change form would post untouched (its initial values)."""
    form = client.get(url).context["adminform"].form
    def text(value) -> str:
        if value is True:
            return "on"
        return json.dumps(value) if isinstance(value, dict | list) else str(value)

    return {name: text(value) for name, value in form.initial.items()
            if value not in (None, False) and name in form.fields}


@pytest.fixture
def boss_client(client, db):
    client.force_login(make_user("boss", superuser=True))
    return client


def _field_errors(response, field: str) -> list[str]:
    form = response.context["adminform"].form
    return [str(e) for e in form.errors.get(field, [])]


@pytest.mark.parametrize(("value", "says"), BAD_AMOUNTS)
def test_the_risk_form_refuses_a_malformed_max_exposure_and_saves_nothing(boss_client, value,
                                                                          says):
    RiskSettings.load()
    url = reverse("admin:trading_risksettings_change", args=[1])

    response = boss_client.post(url, {**_form_data(boss_client, url), "max_exposure": value,
                                      "max_book_age_ms": "2500"})

    assert response.status_code == 200  # the form again, not a redirect
    errors = _field_errors(response, "max_exposure")
    assert errors and any(says in e for e in errors), errors
    assert set(response.context["adminform"].form.errors) == {"max_exposure"}
    row = RiskSettings.load()
    assert row.max_exposure == {} and row.max_book_age_ms == 3000  # nothing saved
    assert not LogEntry.objects.exists()


def test_the_risk_form_accepts_upper_case_assets_and_decimal_strings(boss_client):
    RiskSettings.load()
    url = reverse("admin:trading_risksettings_change", args=[1])

    response = boss_client.post(url, {**_form_data(boss_client, url),
                                      "max_exposure": '{"BTC": "0.05", "USDT": "0", "1INCH": "7"}'})

    assert response.status_code == 302, _field_errors(response, "max_exposure")
    assert RiskSettings.load().max_exposure == {"BTC": "0.05", "USDT": "0", "1INCH": "7"}


@pytest.mark.parametrize(("value", "says"), BAD_AMOUNTS[:4])
def test_the_monitor_form_refuses_a_malformed_ledger_tolerance(boss_client, value, says):
    row = MonitorSettings.load()
    url = reverse("admin:trading_monitorsettings_change", args=[1])
    data = {**_form_data(boss_client, url), "ledger_tolerance_abs": value}

    response = boss_client.post(url, data)

    assert response.status_code == 200
    errors = _field_errors(response, "ledger_tolerance_abs")
    assert errors and any(says in e for e in errors), errors
    row.refresh_from_db()
    assert row.ledger_tolerance_abs == {}


def test_setup_reports_a_stored_setting_that_has_no_schema_shape(db):
    RiskSettings.load()
    RiskSettings.objects.update(max_exposure={"BTC": "0,05", "ETH": "1"})
    MonitorSettings.load()
    MonitorSettings.objects.update(ledger_tolerance_abs=["IRR", "10"])

    report = settings_check(report=SetupReport())

    assert len(report.problems) == 2
    assert report.problems[0].startswith("risk settings max_exposure: BTC:")
    assert "comma" in report.problems[0]
    assert report.problems[1].startswith("monitor settings ledger_tolerance_abs: must be a JSON")


def test_a_bad_stored_exposure_for_one_asset_leaves_the_other_markets_trading(
        scene, caplog):
    # Given BTC-IRR (the scene) and ETH-IRR, both crossed, and a limit for BTC
    # written with a decimal comma before the admin checked it (update():
    # no validation, as an old row or a raw SQL edit would be).
    eth = make_market("ETH", "IRR")
    listing(scene["nobitex"], eth)
    listing(scene["invex"], eth)
    balances("invex", IRR="0", BTC="10", ETH="10")
    books_store([NOBITEX_BOOK, INVEX_BOOK,
                 book("nobitex", "ETH-IRR", asks=[("100", "1")], bids=[("90", "1")]),
                 book("invex", "ETH-IRR", bids=[("110", "1")], asks=[("120", "1")])],
                fetched_at=NOBITEX_BOOK.received_at)
    RiskSettings.objects.update(max_exposure={"BTC": "0,05", "ETH": "0.5"})

    with caplog.at_level(logging.ERROR, logger="trading.detection.inputs"):
        report = detect()

    # Then ETH trades, within its own (valid) limit; BTC is skipped, saying why.
    opportunity = Opportunity.objects.get()
    assert opportunity.market == eth and opportunity.quantity == D("0.5")
    assert report.rejections["bad_setting"] == 2  # BTC-IRR, both directions
    assert detection.counters()["bad_setting"] == 2
    example = next(line.last for line in rejections_recent().lines
                   if line.reason == "bad_setting")
    assert example["market"] == "BTC-IRR"
    assert example["figures"]["setting"] == "max_exposure"
    assert "comma" in example["figures"]["problem"]
    # logged once for the cycle, naming the setting and the asset
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "max_exposure" in errors[0].getMessage() and "BTC" in errors[0].getMessage()


def test_a_stored_exposure_that_is_not_a_map_skips_every_market_saying_why(scene):
    RiskSettings.objects.update(max_exposure=["BTC", "0.05"])

    report = detect()

    assert not Opportunity.objects.exists()
    assert report.rejections == {"bad_setting": 2}
    example = next(line.last for line in rejections_recent().lines
                   if line.reason == "bad_setting")
    assert "must be a JSON object" in example["figures"]["problem"]
