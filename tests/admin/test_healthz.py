"""/healthz: JSON, no secrets, 503 when the system cannot trade."""

from __future__ import annotations

import pytest
from django.urls import reverse

from arbsite.redis import key, redis_client
from exchanges.breaker import CircuitBreaker, breaker_reset
from tests.factories import make_exchange
from trading.services.heartbeat import heartbeat_record
from trading.services.polling import exchange_status_record
from trading.services.risk import kill_switch_set

pytestmark = pytest.mark.django_db


def codes(data: dict) -> set[str]:
    return {p["code"] for p in data["problems"]}


@pytest.fixture
def healthy():
    for name in ("nobitex", "wallex"):
        make_exchange(name, api_key="SECRET-TOKEN-abc")
        breaker_reset(name)
        exchange_status_record(name, ok=True)
    heartbeat_record(role="worker")
    yield
    for name in ("nobitex", "wallex"):
        breaker_reset(name)


def test_healthy_system_answers_200(client, healthy):
    response = client.get(reverse("healthz"))
    data = response.json()
    assert response.status_code == 200, data
    assert data["can_trade"] is True and data["problems"] == []
    assert data["database"] == data["broker"] == "ok"
    assert data["heartbeat_age_seconds"] < 5
    assert set(data["exchanges"]) == {"nobitex", "wallex"}
    assert data["exchanges"]["nobitex"]["breaker"] == "closed"
    assert data["exchanges"]["nobitex"]["book_age_seconds"] < 5
    assert "SECRET-TOKEN-abc" not in response.content.decode()


def test_kill_switch_makes_it_503(client, healthy):
    kill_switch_set(active=True, reason="drill", actor="admin:olga")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert "kill_switch" in codes(response.json())


def test_an_open_breaker_leaves_one_exchange_and_503(client, healthy):
    breaker = CircuitBreaker("wallex", threshold=1)
    breaker.record_failure("timeout")
    data = client.get(reverse("healthz")).json()
    assert data["exchanges"]["wallex"]["breaker"] == "open"
    assert data["exchanges"]["wallex"]["can_trade"] is False
    assert {"breaker_open", "fewer_than_two_exchanges"} <= codes(data)


def test_no_heartbeat_is_503(client, db):
    redis_client().delete(key("heartbeat", "worker"))
    make_exchange("nobitex")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert codes(response.json()) & {"worker_missing", "beat_missing"}


def test_healthz_does_not_echo_the_kill_switch_reason(client, healthy):
    kill_switch_set(active=True, reason="wallex key leaked, rotating it", actor="admin:olga")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert "kill_switch" in codes(response.json())
    assert "rotating" not in response.content.decode()
