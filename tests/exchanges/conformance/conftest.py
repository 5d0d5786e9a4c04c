"""Fixtures of the conformance tests: a sandbox of this package alone (its
variants are switched between runs), and the three exchanges configured in
the database against it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from exchanges.breaker import breaker_reset
from exchanges.catalog import default_listing
from exchanges.models import Exchange, ExchangeMarket, Market
from exchanges.registry import clear_cache
from tests.exchanges.conftest import INVEX_KEY, MARKETS, NOBITEX_TOKEN, SANDBOX_BALANCES, WALLEX_KEY

KEYS = {"nobitex": NOBITEX_TOKEN, "wallex": WALLEX_KEY, "invex": INVEX_KEY}


@pytest.fixture(scope="package")
def conformance_server(invex_keys):
    from exchanges.sandbox import SandboxAccount, SandboxServer

    accounts = [
        SandboxAccount("nobitex", NOBITEX_TOKEN, balances=dict(SANDBOX_BALANCES["nobitex"])),
        SandboxAccount("wallex", WALLEX_KEY, balances=dict(SANDBOX_BALANCES["wallex"])),
        SandboxAccount("invex", INVEX_KEY, public_key_hex=invex_keys[1],
                       balances=dict(SANDBOX_BALANCES["invex"])),
    ]
    server = SandboxServer(scenario="static", seed=5, accounts=accounts, rate_limits=False,
                           invex_cancel_delay=0.05, hang_seconds=2.0).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(conformance_server):
    """The package's sandbox, fresh: defaults, no faults, no orders."""
    conformance_server.world.variants.reset()
    conformance_server.reset()
    yield conformance_server
    conformance_server.clear_faults()
    conformance_server.world.variants.reset()


def exchanges_on(sandbox, invex_keys) -> None:
    """The three exchanges and their listings, pointed at ``sandbox``."""
    for kind in KEYS:
        exchange = Exchange.objects.create(
            name=kind, adapter=kind, base_url=sandbox.base_url(kind), api_key=KEYS[kind],
            api_secret=invex_keys[0] if kind == "invex" else "",
        )
        for code in MARKETS:
            base, quote = code.split("-")
            market, _ = Market.objects.get_or_create(base=base, quote=quote)
            d = default_listing(kind, base, quote)
            ExchangeMarket.objects.create(
                exchange=exchange, market=market, symbol=d.symbol, price_scale=d.price_scale,
                amount_step=d.amount_step, price_tick=d.price_tick,
                min_order_value=d.min_order_value,
            )
        breaker_reset(kind)
    clear_cache()


@pytest.fixture
def configured(db, sandbox, invex_keys):
    exchanges_on(sandbox, invex_keys)
    yield sandbox
    clear_cache()


def conformance(name: str, *args: str) -> tuple[int, str, str]:
    """``manage.py exchange NAME conformance ARGS``: (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("exchange", name, "conformance", *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()
