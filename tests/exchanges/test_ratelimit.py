"""The rate limiter in real Redis, shared by several processes."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from exchanges.errors import RateLimitedError
from exchanges.ratelimit import Limit, RateLimiter, limits_for
from tests.exchanges.conftest import make_adapter

LIMITS = {"book": Limit(10, 2.0)}


def _hammer(prefix: str, attempts: int, results) -> None:
    limiter = RateLimiter("nobitex", LIMITS, max_wait=0, prefix=prefix)
    admitted = 0
    for _ in range(attempts):
        try:
            limiter.acquire("book")
            admitted += 1
        except RateLimitedError:
            pass
    results.put(admitted)


def test_limit_is_shared_by_two_processes(redis_prefix):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_hammer, args=(redis_prefix, 15, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
        assert worker.exitcode == 0
    admitted = [results.get(timeout=5) for _ in workers]
    assert sum(admitted) == 10  # the window holds across processes, no more, no less


def test_waits_briefly_for_a_slot(redis_prefix):
    limiter = RateLimiter("wallex", {"book": Limit(2, 0.5)}, max_wait=1.0, prefix=redis_prefix)
    started = time.monotonic()
    for _ in range(3):
        limiter.acquire("book")
    assert 0.3 < time.monotonic() - started < 1.0


def test_raises_when_the_wait_is_too_long(redis_prefix):
    limiter = RateLimiter("wallex", {"book": Limit(1, 30)}, max_wait=0.1, prefix=redis_prefix)
    limiter.acquire("book")
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire("book")
    assert 29 < caught.value.retry_after <= 30
    assert caught.value.exchange == "wallex"
    # Other endpoint classes have their own windows.
    limiter.acquire("status")


def test_backoff_is_seen_by_every_limiter(redis_prefix):
    first = RateLimiter("invex", LIMITS, max_wait=0, prefix=redis_prefix)
    other = RateLimiter("invex", LIMITS, max_wait=0, prefix=redis_prefix)
    first.record_backoff(5)
    with pytest.raises(RateLimitedError):
        other.acquire("book")
    assert 4 < other.backoff_remaining() <= 5
    other.reset()
    other.acquire("book")


def test_a_429_from_the_exchange_backs_off_all_processes(shared_sandbox, sandbox_adapter,
                                                        redis_prefix):
    limiter = RateLimiter("nobitex", limits_for("nobitex"), max_wait=0, prefix=redis_prefix)
    adapter = make_adapter("nobitex", shared_sandbox.base_url("nobitex"))
    adapter.http.limiter = limiter
    shared_sandbox.set_faults("nobitex:ratelimit=1")
    with pytest.raises(RateLimitedError):
        adapter.get_order_book("BTC-IRR")
    shared_sandbox.clear_faults()
    requests_before = shared_sandbox.state()["exchanges"]["nobitex"]["counters"]["requests"]
    with pytest.raises(RateLimitedError, match="back-off"):
        adapter.get_order_book("BTC-IRR")  # refused locally: nothing sent
    assert shared_sandbox.state()["exchanges"]["nobitex"]["counters"]["requests"] == requests_before


def test_documented_nobitex_limits():
    limits = limits_for("nobitex")
    assert limits["book"] == Limit(300, 60)
    assert limits["place"] == Limit(300, 600)
    assert limits["open_orders"] == Limit(30, 60)
    assert limits["cancel"] == Limit(90, 60)
    assert limits["balances"] == Limit(20, 120)


def test_the_back_off_in_force_is_visible_with_its_reason(redis_prefix):
    limiter = RateLimiter("wallex", LIMITS, max_wait=0, prefix=redis_prefix)
    assert not limiter.backoff().active
    limiter.record_backoff(30, "HTTP 429 on GET /v1/depth: Too many requests")
    state = limiter.backoff()
    assert state.active and 29 < state.remaining <= 30
    assert state.reason == "HTTP 429 on GET /v1/depth: Too many requests"
    assert state.since is not None


def test_a_429_without_a_back_off_gets_the_documented_default(replay, replay_adapter):
    """Wallex and Invex document no back-off value: DEFAULT_BACKOFF_S (60 s)
    unless the deployment sets another (EXCHANGE_DEFAULT_BACKOFF_SECONDS)."""
    from exchanges.ratelimit import DEFAULT_BACKOFF_S, backoff_state

    replay.route("GET", "/v1/depth", (429, {"success": False, "message": "Too many requests"}))
    adapter = replay_adapter("wallex", rate_limits=LIMITS)
    with pytest.raises(RateLimitedError, match="waiting the default 60s") as caught:
        adapter.get_order_book("BTC-IRR")
    assert caught.value.retry_after == DEFAULT_BACKOFF_S == 60.0
    state = backoff_state("wallex")
    assert state.active and "no back-off given" in state.reason

    replay.route("GET", "/market-depth", (429, {"detail": "Too many requests"}))
    other = replay_adapter("invex", default_backoff=5.0)
    with pytest.raises(RateLimitedError) as caught:
        other.get_order_book("BTC-IRR")
    assert caught.value.retry_after == 5.0


def test_retry_after_header_wins_over_the_default(replay, replay_adapter):
    replay.route("GET", "/v1/depth", (429, "slow down", {"Retry-After": "7"}))
    adapter = replay_adapter("wallex", rate_limits=LIMITS, default_backoff=5.0)
    with pytest.raises(RateLimitedError) as caught:
        adapter.get_order_book("BTC-IRR")
    assert caught.value.retry_after == 7.0


def test_wait_needed_says_when_a_call_would_be_admitted_and_records_nothing(redis_prefix):
    limiter = RateLimiter("wallex", {"place": Limit(2, 5.0)}, max_wait=0, prefix=redis_prefix)
    assert limiter.wait_needed("place") == 0
    assert limiter.wait_needed("place") == 0  # asking spends nothing
    limiter.acquire("place")
    limiter.acquire("place")
    assert 4.0 < limiter.wait_needed("place") <= 5.0  # the window is full
    limiter.record_backoff(30, "HTTP 429")
    assert 29.0 < limiter.wait_needed("place") <= 30.0  # a back-off in force counts
