"""The tick-to-trade bench's child runs with production settings, and twice
in a row on the same database."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from arbsite.bench.pipeline import ROOT, bench_env
from tests.factories import make_exchange, make_market, make_order
from trading.models import Order


def test_the_bench_child_runs_with_production_settings(tmp_path):
    env = bench_env(database_url=f"sqlite:///{tmp_path / 'bench.sqlite3'}")

    assert env["DEBUG"] == "false"
    assert len(env["SECRET_KEY"]) >= 50
    Fernet(env["FIELD_ENCRYPTION_KEY"].encode())  # a valid key
    assert env["REDIS_KEY_PREFIX"].startswith("arbsite-bench-")
    assert bench_env(database_url="sqlite://")["SECRET_KEY"] != env["SECRET_KEY"]

    # Django starts with them (a missing secret would stop it with DEBUG off)
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.conf import settings; print(settings.DEBUG, bool(settings.ALLOWED_HOSTS))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip().splitlines()[-1].split() == ["False", "True"]


@pytest.mark.django_db
def test_a_reused_bench_database_is_made_fresh_without_reading_old_secrets(settings):
    from arbsite.bench.tick_to_trade import _forget_earlier_runs
    from exchanges.models import Exchange

    # Given a bench database an earlier run left: its credentials encrypted
    # with that run's key, its orders on exchanges pointed at a sandbox
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    nobitex = make_exchange("nobitex")
    nobitex.base_url, nobitex.api_key = "http://127.0.0.1:40001/nobitex", "demo-token"
    nobitex.save()
    earlier = make_order(exchange=nobitex, market=make_market(), exchange_order_id="100001")
    demo = make_order(exchange=nobitex, market=make_market(), client_order_id="demo-1")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # this run's key

    # When this run starts
    _forget_earlier_runs()

    # Then the old secrets are gone unread, its orders forgotten, the demo kept
    assert Exchange.objects.get(pk=nobitex.pk).api_key == ""
    assert not Order.objects.filter(pk=earlier.pk).exists()
    assert Order.objects.filter(pk=demo.pk).exists()


@pytest.mark.django_db
def test_a_database_with_orders_on_a_real_exchange_is_refused():
    from arbsite.bench.tick_to_trade import BenchError, _forget_earlier_runs

    make_order(exchange=make_exchange("wallex"), market=make_market())  # real host: blank URL

    with pytest.raises(BenchError, match="wallex not placed on a sandbox"):
        _forget_earlier_runs()
    assert Order.objects.count() == 1
