"""``manage.py setup`` brings a database to a working configuration, and
running it again changes nothing an operator set."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from exchanges.models import Exchange, ExchangeMarket, Market
from trading.models import RiskSettings
from trading.schedule import PERIODIC_TASKS

pytestmark = pytest.mark.django_db


def setup(**options):
    out = StringIO()
    call_command("setup", stdout=out, **options)
    return out.getvalue()


def test_the_schedule_is_installed_once_however_often_setup_runs():
    for _ in range(3):
        setup()
    assert PeriodicTask.objects.filter(name__in=[s.name for s in PERIODIC_TASKS]).count() == len(
        PERIODIC_TASKS
    )
    for spec in PERIODIC_TASKS:
        task = PeriodicTask.objects.get(name=spec.name)
        assert task.task == spec.task
        assert task.interval.every == spec.every_seconds
        assert task.expire_seconds == spec.expires_seconds


def test_an_operators_schedule_edit_survives_setup_unless_reset():
    setup()
    spec = PERIODIC_TASKS[0]
    slower, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name=spec.name).update(interval=slower, enabled=False)

    setup()
    assert PeriodicTask.objects.get(name=spec.name).interval.every == 60

    output = setup(reset_schedule=True)
    task = PeriodicTask.objects.get(name=spec.name)
    assert task.interval.every == spec.every_seconds and task.enabled
    assert "updated" in output


def test_exchanges_and_markets_come_from_the_environment(settings):
    settings.ARBSITE_EXCHANGES = ["nobitex", "wallex"]
    settings.ARBSITE_MARKETS = ["BTC-IRR", "BTC-USDT"]
    setup()
    assert set(Exchange.objects.values_list("name", flat=True)) == {"nobitex", "wallex"}
    assert {m.code for m in Market.objects.all()} == {"BTC-IRR", "BTC-USDT"}
    wallex_btc = ExchangeMarket.objects.get(exchange__name="wallex", market__quote="IRR")
    assert (wallex_btc.symbol, wallex_btc.price_scale) == ("BTCTMN", Decimal("10"))
    nobitex_btc = ExchangeMarket.objects.get(exchange__name="nobitex", market__quote="IRR")
    assert (nobitex_btc.symbol, nobitex_btc.price_scale) == ("BTCIRT", Decimal("1"))
    assert RiskSettings.objects.count() == 1


def test_setup_keeps_what_the_admin_changed(settings):
    settings.ARBSITE_EXCHANGES = ["nobitex"]
    setup()
    Exchange.objects.filter(name="nobitex").update(taker_fee=Decimal("0.001"), enabled=False)
    setup()
    nobitex = Exchange.objects.get(name="nobitex")
    assert nobitex.taker_fee == Decimal("0.001") and not nobitex.enabled


def test_an_unknown_exchange_is_a_clear_error(settings):
    settings.ARBSITE_EXCHANGES = ["nobitex", "binance"]
    with pytest.raises(CommandError, match="unknown exchange.*binance"):
        setup()
    assert not Exchange.objects.exists()  # nothing half-written
