"""``manage.py exchange`` against the sandbox, configured through the database."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from exchanges.models import Exchange
from exchanges.registry import clear_cache
from tests.exchanges.conftest import KEYS, exchanges_point_at


@pytest.fixture
def configured(db, shared_sandbox, invex_keys):
    exchanges_point_at(shared_sandbox, invex_keys)
    yield shared_sandbox
    clear_cache()


def run(*args: str) -> str:
    out = StringIO()
    call_command("exchange", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("kind", list(KEYS))
def test_book_in_rial(configured, kind):
    output = run(kind, "book", "BTC-IRR", "--depth", "3")
    assert "prices in IRR (rial)" in output
    assert "100,040,000,000" in output  # Wallex's 10004000000 toman, shown in rial
    assert "spread" in output and " rial (" in output
    assert "Tehran" in output  # when it was received, in trading-day time


def test_balances(configured):
    output = run("wallex", "balances")
    assert "IRR" in output and "100,000,000,000" in output and "TMN" not in output


def test_open_orders_and_status(configured):
    from decimal import Decimal

    from exchanges.registry import adapter_for
    from exchanges.types import OrderRequest, OrderType, Side

    adapter_for("invex").place_order(OrderRequest(
        "BTC-IRR", Side.BUY, OrderType.LIMIT, Decimal("0.001"), "cmd-order-1",
        price=Decimal("95000000000")))
    assert "cmd-order-1" in run("invex", "open-orders")
    assert "no orders" in run("invex", "open-orders", "ETH-IRR")
    status = run("invex", "status", "cmd-order-1")
    assert "cmd-order-1" in status and "open" in status and "95,000,000,000" in status


def test_errors_are_plain_and_non_zero(configured):
    Exchange.objects.filter(name="nobitex").update(api_key="wrong-token-0000")
    clear_cache()
    with pytest.raises(CommandError) as caught:
        run("nobitex", "balances")
    assert caught.value.returncode == 2
    assert str(caught.value).startswith("AuthenticationError: nobitex: HTTP 401")
    assert "wrong-token-0000" not in str(caught.value)

    with pytest.raises(CommandError, match="no exchange named 'kraken'"):
        run("kraken", "balances")
    with pytest.raises(CommandError, match="no market BTC-EUR configured"):
        run("wallex", "book", "BTC-EUR")
    with pytest.raises(CommandError, match="NotFoundError: wallex"):
        run("wallex", "status", "no-such-order")


def test_unreachable_exchange(configured):
    Exchange.objects.filter(name="wallex").update(base_url="http://127.0.0.1:9")
    clear_cache()
    with pytest.raises(CommandError, match="TransientError: wallex: .*could not connect to "
                                           r"http://127.0.0.1:9/v1/depth"):
        run("wallex", "book", "BTC-IRR")
