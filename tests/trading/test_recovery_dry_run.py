"""``recover_orders --dry-run`` is side-effect-free (issue 12.3): it neither
counts towards nor opens the shared circuit breakers, and spends none of the
shared rate-limit budget trading needs (real Redis, the sandbox over HTTP)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from arbsite.redis import key, redis_client
from exchanges.breaker import CLOSED, OPEN, CircuitBreaker, breaker_state
from exchanges.models import Exchange, Market
from exchanges.registry import clear_cache
from tests.factories import make_order

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ("nobitex", "wallex", "invex")


@pytest.fixture
def limited(trading_setup, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = True
    clear_cache()
    yield trading_setup
    clear_cache()


def windows() -> dict[str, int]:
    """Every shared rate-limit window and back-off, with its size."""
    client = redis_client()
    found = {name: client.zcard(name) for name in client.scan_iter(match=key("rl", "*"))}
    found |= {name: 1 for name in client.scan_iter(match=key("backoff", "*"))}
    return found


def breakers() -> dict[str, tuple]:
    return {n: (s.state, s.failures, s.last_error)
            for n in NAMES for s in [breaker_state(n)]}


def dry_run(*names: str) -> str:
    out = StringIO()
    args = [f"--exchange={name}" for name in names]
    try:
        call_command("recover_orders", "--dry-run", *args, stdout=out, stderr=StringIO())
    except SystemExit:
        pass  # exit code 2: an exchange could not be fully recovered
    return out.getvalue()


def test_a_dry_run_against_503s_leaves_breakers_and_windows_unchanged(limited):
    btc = Market.objects.get(base="BTC", quote="IRR")
    for name in ("nobitex", "wallex"):
        make_order(exchange=Exchange.objects.get(name=name), market=btc)  # pending_submit
    limited.set_faults("nobitex:down=1")
    before_breakers, before_windows = breakers(), windows()
    assert all(state == CLOSED for state, _, _ in before_breakers.values())

    # More failing calls than the breaker's threshold. (Invex is left out for
    # speed: its probe budget, a fifth of the guessed limits, waits a minute
    # between its list calls.)
    for _ in range(6):
        out = dry_run("nobitex", "wallex")

    assert "(dry run)" in out and "nobitex" in out
    assert breakers() == before_breakers
    assert windows() == before_windows


def test_a_dry_run_looks_past_an_open_breaker_and_leaves_it_open(limited):
    btc = Market.objects.get(base="BTC", quote="IRR")
    make_order(exchange=Exchange.objects.get(name="wallex"), market=btc)
    breaker = CircuitBreaker("wallex", threshold=1, cooldown=600)
    breaker.record_failure("wallex: HTTP 503 seen by trading")
    before = breaker_state("wallex")
    assert before.state == OPEN

    out = dry_run("wallex")

    assert "SKIPPED" not in next(line for line in out.splitlines() if line.startswith("wallex"))
    after = breaker_state("wallex")
    assert (after.state, after.failures, after.last_error) == (
        before.state, before.failures, before.last_error)
    assert windows() == {}


def test_the_probe_says_which_address_it_could_not_reach(limited):
    import socket

    from django.core.management.base import CommandError

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    Exchange.objects.filter(name="wallex").update(base_url=f"http://127.0.0.1:{port}")
    clear_cache()
    before = breakers()

    with pytest.raises(CommandError) as raised:
        call_command("exchange", "wallex", "book", "BTC-IRR", stdout=StringIO(),
                     stderr=StringIO())

    assert f"could not connect to http://127.0.0.1:{port}/" in str(raised.value)
    assert breakers() == before and windows() == {}
