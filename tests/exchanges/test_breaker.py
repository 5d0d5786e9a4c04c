"""The circuit breaker in real Redis, with an injectable clock."""

from __future__ import annotations

import pytest

from exchanges.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from exchanges.errors import (
    AuthenticationError,
    CircuitOpenError,
    NotFoundError,
    TransientError,
)
from tests.exchanges.conftest import make_adapter


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def breaker(prefix: str, clock: Clock, **kwargs) -> CircuitBreaker:
    return CircuitBreaker("nobitex", threshold=3, cooldown=30, clock=clock, prefix=prefix,
                          **kwargs)


def test_opens_after_consecutive_failures_then_half_opens_and_closes(redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    for _ in range(2):
        b.before_call()
        b.record_failure("nobitex: HTTP 502")
    assert b.state().state == CLOSED and b.state().failures == 2

    b.record_failure("nobitex: timeout")
    state = b.state()
    assert state.state == OPEN and state.failures == 3
    assert state.opened_at.timestamp() == clock.now and state.last_error == "nobitex: timeout"
    with pytest.raises(CircuitOpenError, match="open after 3 failures"):
        b.before_call()

    clock.now += 30
    assert b.state().state == HALF_OPEN
    b.before_call()  # this caller is the probe
    with pytest.raises(CircuitOpenError):
        breaker(redis_prefix, clock).before_call()  # one probe at a time, across processes
    b.record_success()
    assert b.state().state == CLOSED and b.state().failures == 0
    b.before_call()


def test_failed_probe_opens_again(redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    for _ in range(3):
        b.record_failure("boom")
    clock.now += 31
    b.before_call()
    b.record_failure("still down")
    assert b.state().state == OPEN
    with pytest.raises(CircuitOpenError):
        b.before_call()


def test_success_resets_the_count(redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    b.record_failure("x")
    b.record_failure("x")
    b.record_success()
    b.record_failure("x")
    assert b.state().state == CLOSED and b.state().failures == 1


def test_reset(redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    for _ in range(3):
        b.record_failure("x")
    b.reset()
    assert b.state().state == CLOSED and b.state().failures == 0
    b.before_call()


def test_adapter_fails_fast_when_open(shared_sandbox, redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    adapter = make_adapter("nobitex", shared_sandbox.base_url("nobitex"), read_retries=0)
    adapter.http.breaker = b
    shared_sandbox.set_faults("nobitex:error5xx=1")
    for _ in range(3):
        with pytest.raises(TransientError):
            adapter.get_order_book("BTC-IRR")
    shared_sandbox.clear_faults()
    assert b.state().state == OPEN
    with pytest.raises(CircuitOpenError):
        adapter.get_order_book("BTC-IRR")

    clock.now += 30
    assert adapter.get_order_book("BTC-IRR").best_ask is not None
    assert b.state().state == CLOSED


def test_business_refusals_do_not_count(shared_sandbox, redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    adapter = make_adapter("nobitex", shared_sandbox.base_url("nobitex"))
    adapter.http.breaker = b
    b.record_failure("an earlier timeout")
    for _ in range(4):
        with pytest.raises(NotFoundError):
            adapter.get_order(exchange_order_id="999999")
    # An answer, even a refusal, proves the exchange is up.
    assert b.state().state == CLOSED and b.state().failures == 0


def test_refused_credentials_stop_private_calls_not_books(shared_sandbox, redis_prefix, clock):
    """Nobitex blocks an IP after 100 failed-auth requests in 30 minutes: one
    refusal stops private calls, with the reason in the breaker's state."""
    b = breaker(redis_prefix, clock, auth_cooldown=600)
    wrong = make_adapter("nobitex", shared_sandbox.base_url("nobitex"), api_key="wrong-token-xyz")
    wrong.http.breaker = b
    requests_before = shared_sandbox.state()["exchanges"]["nobitex"]["counters"]["requests"]

    with pytest.raises(AuthenticationError):
        wrong.balances()
    for _ in range(3):
        with pytest.raises(CircuitOpenError, match="private calls stopped: authentication "
                                                   "refused.*HTTP 401"):
            wrong.balances()

    sent = shared_sandbox.state()["exchanges"]["nobitex"]["counters"]["requests"] - requests_before
    assert sent == 1  # the retries never reached the exchange
    state = b.state()
    assert state.state == OPEN and state.scope == "private" and state.private_stopped
    assert "Invalid token" in state.reason and "wrong-token-xyz" not in state.reason
    assert wrong.get_order_book("BTC-IRR").best_ask is not None  # public calls go on
    assert b.state().state == OPEN  # and do not close it

    clock.now += 600  # one probe per auth cool-down
    assert b.state().state == HALF_OPEN
    with pytest.raises(AuthenticationError):
        wrong.balances()
    assert b.state().state == OPEN
    b.reset()  # what an operator does after fixing the credentials
    right = make_adapter("nobitex", shared_sandbox.base_url("nobitex"))
    right.http.breaker = b
    assert right.balances()["IRR"].total > 0
    assert b.state().state == CLOSED


def test_an_auth_stop_covers_private_calls_only(redis_prefix, clock):
    b = breaker(redis_prefix, clock, auth_cooldown=600)
    b.record_auth_failure("authentication refused: wallex: HTTP 401 Invalid API key")
    b.before_call(private=False)  # a book
    b.record_success(private=False)
    assert b.state().state == OPEN and b.state().scope == "private"
    with pytest.raises(CircuitOpenError, match="private calls stopped.*Invalid API key"):
        b.before_call(private=True)
    assert b.state().probe_at.timestamp() == clock.now + 600

    clock.now += 600
    b.before_call(private=True)  # the probe
    b.record_success(private=True)  # credentials fixed: the exchange took them
    state = b.state()
    assert state.state == CLOSED and state.scope == "all" and state.reason == ""


def test_an_outage_after_an_auth_stop(redis_prefix, clock):
    b = breaker(redis_prefix, clock)
    for _ in range(3):
        b.record_failure("nobitex: HTTP 502")
    assert b.state().scope == "all"
    b.record_auth_failure("authentication refused: nobitex: HTTP 403")
    b.before_call(private=False)  # an answer came: the exchange is up, public calls go on
    assert b.state().scope == "private"
