"""No credential reaches a log line, even at DEBUG and on failing requests."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from exchanges.errors import ExchangeError
from exchanges.logging import redact
from exchanges.types import OrderRequest, OrderType, Side
from tests.exchanges.conftest import INVEX_KEY, NOBITEX_TOKEN, WALLEX_KEY


@pytest.mark.parametrize("kind", ["nobitex", "wallex", "invex"])
def test_no_secret_in_any_log_line(caplog, shared_sandbox, sandbox_adapter, invex_keys, kind):
    caplog.set_level(logging.DEBUG)
    adapter = sandbox_adapter(kind, read_retries=1)
    secrets = [NOBITEX_TOKEN, WALLEX_KEY, INVEX_KEY, invex_keys[0]]

    adapter.balances()
    adapter.get_order_book("BTC-IRR")
    shared_sandbox.set_faults(f"{kind}:error5xx=1")
    for call in (adapter.balances,
                 lambda: adapter.place_order(OrderRequest(
                     "BTC-IRR", Side.BUY, OrderType.LIMIT, Decimal("0.001"), "redact-1",
                     price=Decimal("95000000000")))):
        with pytest.raises(ExchangeError) as caught:
            call()
        logging.getLogger("tests").exception("failure: %r", caught.value)
    shared_sandbox.clear_faults()
    wrong = sandbox_adapter(kind, api_key="wrong-key-abcdef-123456")
    with pytest.raises(ExchangeError):
        wrong.balances()

    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "redact-1" in text  # the logs have context…
    for secret in [*secrets, "wrong-key-abcdef-123456"]:
        assert secret not in text  # …and no credentials


def test_adapters_register_their_secrets(invex_keys):
    from tests.exchanges.conftest import make_adapter

    make_adapter("invex", api_key="invex-registered-key-42", api_secret=invex_keys[0])
    assert "invex-registered-key-42" not in redact("header was invex-registered-key-42")
    assert invex_keys[0] not in redact(f"key {invex_keys[0]}")
