"""Probe mode (issue 12.3): the ``exchange`` command and ``recover_orders --dry-run``
neither count towards nor are stopped by the shared circuit breaker, and do not
spend the shared rate-limit budget; they keep their own, smaller one."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from arbsite.redis import redis_client
from exchanges.breaker import OPEN, CircuitBreaker, breaker_reset, breaker_state
from exchanges.errors import RateLimitedError, TransientError
from exchanges.ratelimit import BOOK, DEFAULT_LIMITS, LocalRateLimiter, RateLimiter, backoff_state
from tests.exchanges.conftest import make_adapter


def requests_seen(shared_sandbox, kind: str) -> int:
    return shared_sandbox.state()["exchanges"][kind]["counters"]["requests"]


def shared_window_size(exchange: str, endpoint: str) -> int:
    limiter = RateLimiter(exchange, {})
    return redis_client().zcard(limiter._key("rl", exchange, endpoint))


def probe(shared_sandbox, kind="nobitex", **config):
    return make_adapter(kind, shared_sandbox.base_url(kind), probe=True, breaker=True,
                        rate_limits=DEFAULT_LIMITS[kind], read_retries=0, **config)


def test_probe_looks_past_an_open_breaker_and_leaves_it_as_it_was(shared_sandbox):
    shared = CircuitBreaker("nobitex", threshold=1, cooldown=600)
    shared.record_failure("nobitex: HTTP 503 (an outage seen by trading)")
    before = breaker_state("nobitex")
    assert before.state == OPEN

    adapter = probe(shared_sandbox)
    assert adapter.http.breaker is None
    assert adapter.get_order_book("BTC-IRR").best_ask is not None  # the exchange is back
    shared_sandbox.set_faults("nobitex:error5xx=1")
    with pytest.raises(TransientError):
        adapter.get_order_book("BTC-IRR")

    after = breaker_state("nobitex")
    assert (after.state, after.failures, after.last_error) == (
        before.state, before.failures, before.last_error)
    breaker_reset("nobitex")


def test_probe_spends_its_own_budget_not_the_shared_one(shared_sandbox):
    trading = make_adapter("nobitex", shared_sandbox.base_url("nobitex"),
                           rate_limits=DEFAULT_LIMITS["nobitex"])
    trading.get_order_book("BTC-IRR")
    assert shared_window_size("nobitex", BOOK) == 1

    adapter = probe(shared_sandbox)
    assert isinstance(adapter.http.limiter, LocalRateLimiter)
    for _ in range(3):
        adapter.get_order_book("BTC-IRR")
    assert shared_window_size("nobitex", BOOK) == 1  # unchanged
    # Conservative: a fifth of the documented 300 a minute.
    assert adapter.http.limiter.limits[BOOK].calls == 60


def test_probe_budget_is_kept(shared_sandbox):
    adapter = probe(shared_sandbox, rate_limit_max_wait=0.0)
    adapter.http.limiter.limits[BOOK] = type(adapter.http.limiter.limits[BOOK])(2, 60)
    adapter.get_order_book("BTC-IRR")
    adapter.get_order_book("BTC-IRR")
    sent = requests_seen(shared_sandbox, "nobitex")
    with pytest.raises(RateLimitedError, match="probe's own rate limit"):
        adapter.get_order_book("BTC-IRR")
    assert requests_seen(shared_sandbox, "nobitex") == sent  # nothing sent


def test_probe_honours_a_shared_back_off_but_never_writes_one(shared_sandbox):
    RateLimiter("nobitex", {}).record_backoff(30, "HTTP 429 seen by trading")
    adapter = probe(shared_sandbox, rate_limit_max_wait=0.0)
    sent = requests_seen(shared_sandbox, "nobitex")
    with pytest.raises(RateLimitedError):
        adapter.get_order_book("BTC-IRR")
    assert requests_seen(shared_sandbox, "nobitex") == sent
    RateLimiter("nobitex", {}).reset()

    shared_sandbox.set_faults("nobitex:ratelimit=1")
    with pytest.raises(RateLimitedError):
        adapter.get_order_book("BTC-IRR")
    assert not backoff_state("nobitex").active  # the probe's 429 stays with the probe
    assert adapter.http.limiter.backoff_remaining() > 0


@pytest.fixture
def configured(db, shared_sandbox, invex_keys):
    from exchanges.catalog import default_listing
    from exchanges.models import Exchange, ExchangeMarket, Market
    from exchanges.registry import clear_cache
    from tests.exchanges.conftest import NOBITEX_TOKEN

    exchange = Exchange.objects.create(name="nobitex", adapter="nobitex",
                                       base_url=shared_sandbox.base_url("nobitex"),
                                       api_key=NOBITEX_TOKEN)
    market, _ = Market.objects.get_or_create(base="BTC", quote="IRR")
    d = default_listing("nobitex", "BTC", "IRR")
    ExchangeMarket.objects.create(exchange=exchange, market=market, symbol=d.symbol,
                                  price_scale=d.price_scale, amount_step=d.amount_step,
                                  price_tick=d.price_tick, min_order_value=d.min_order_value)
    yield exchange
    clear_cache()
    breaker_reset("nobitex")


def test_exchange_command_probes_past_an_open_breaker(configured, settings):
    settings.EXCHANGE_RATE_LIMITS_ENABLED = True
    CircuitBreaker("nobitex", threshold=1).record_failure("nobitex: HTTP 503")
    RateLimiter("nobitex", {}).record_backoff(0.2, "HTTP 429 on GET /v3/orderbook/BTCIRT")
    before = breaker_state("nobitex")
    window = shared_window_size("nobitex", BOOK)
    out, err = StringIO(), StringIO()

    call_command("exchange", "nobitex", "book", "BTC-IRR", stdout=out, stderr=err)

    assert "spread" in out.getvalue()
    assert "shared breaker is open for all calls" in err.getvalue()
    assert "asked for a back-off" in err.getvalue()
    assert breaker_state("nobitex").failures == before.failures
    assert shared_window_size("nobitex", BOOK) == window
