"""Shared fixtures. Tests talk to the real PostgreSQL (when DATABASE_URL
points at it) and the real Redis at REDIS_URL; nothing here imitates them."""

from __future__ import annotations

import os
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from arbsite.redis import redis_client
from tests.browser import browser, page  # noqa: F401 - fixtures for browser tests
from tests.factories import make_exchange, make_market, make_order


@pytest.fixture(scope="session", autouse=True)
def redis_namespace():
    """Keys and queues of this test run apart from any other user of the Redis."""
    prefix = f"arbsite-test-{uuid.uuid4().hex[:10]}"
    settings.REDIS_KEY_PREFIX = prefix
    os.environ["REDIS_KEY_PREFIX"] = prefix
    yield prefix
    _redis_clear(prefix)


def _redis_clear(prefix: str) -> None:
    client = redis_client()
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def redis_clean(redis_namespace):
    """Each test starts with this run's Redis keys gone, as its database
    starts empty: rate-limit windows, breakers, books and locks of one test
    never leak into the next."""
    _redis_clear(redis_namespace)
    yield


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture
def exchange(db):
    return make_exchange("nobitex")


@pytest.fixture
def market(db):
    return make_market("BTC", "IRR")


@pytest.fixture
def order(exchange, market):
    return make_order(exchange=exchange, market=market, quantity=Decimal("1.5"))
