"""Trading tests run the real adapters against the sandbox over HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges import registry
from exchanges.breaker import breaker_reset
from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file
from trading.models import RiskSettings
from trading.services.books import books_clear
from trading.services.setup import exchanges_install, exchanges_use_sandbox

EXCHANGE_NAMES = ["nobitex", "wallex", "invex"]
MARKETS = ["BTC-IRR", "USDT-IRR", "ETH-IRR"]


@pytest.fixture(scope="session")
def sandbox_credentials(tmp_path_factory):
    return ensure_credentials_file(tmp_path_factory.mktemp("sandbox") / "sandbox.env")


@pytest.fixture
def trading_sandbox(sandbox_credentials):
    """A sandbox of this test alone, holding the demo accounts (static books)."""
    server = SandboxServer(port=0, scenario="static", accounts=demo_accounts(sandbox_credentials),
                           rate_limits=False, invex_cancel_delay=0.05, hang_seconds=3).start()
    yield server
    server.stop()


@pytest.fixture
def trading_setup(db, trading_sandbox, sandbox_credentials, settings):
    """The three exchanges pointed at the sandbox, and permissive risk settings."""
    # A place timeout of 3.5 s (rate-limit wait + connect + read): the shortest
    # not-found grace recovery accepts, so the tests that wait one wait little.
    settings.EXCHANGE_HTTP_TIMEOUT = (1.0, 2.0)
    settings.EXCHANGE_RATE_LIMIT_MAX_WAIT = 0.5
    settings.ORDER_NOT_FOUND_GRACE_SECONDS = 3.5
    settings.EXCHANGE_READ_RETRIES = 0
    exchanges_install(names=EXCHANGE_NAMES, market_codes=MARKETS)
    exchanges_use_sandbox(base_url_of=trading_sandbox.base_url, credentials=sandbox_credentials)
    for name in EXCHANGE_NAMES:
        breaker_reset(name)
    risk = RiskSettings.load()
    risk.min_profit_pct = Decimal("0.01")
    risk.min_profit_irr = Decimal("1")
    risk.max_order_value_irr = Decimal("10000000000")
    risk.max_book_age_ms = 60_000
    risk.save()
    registry.clear_cache()
    books_clear()
    yield trading_sandbox
    registry.clear_cache()
    for name in EXCHANGE_NAMES:
        breaker_reset(name)
