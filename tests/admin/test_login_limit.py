"""Admin logins are rate-limited per username and per address."""

from __future__ import annotations

import pytest
from django.urls import reverse

from arbsite.redis import key, redis_client
from tests.admin.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_WINDOW = 60
    client = redis_client()
    keys = list(client.scan_iter(key("login-failures", "*")))
    if keys:
        client.delete(*keys)


def _login(client, username, password, addr="10.0.0.1"):
    return client.post(reverse("admin:login"), {"username": username, "password": password},
                       REMOTE_ADDR=addr)


def test_too_many_failures_lock_the_username(client, operator):
    for _ in range(3):
        assert _login(client, "olga", "wrong").status_code == 200
    refused = _login(client, "olga", PASSWORD, addr="10.0.0.2")  # even the right one
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_too_many_failures_lock_the_address(client, operator):
    for name in ("a", "b", "c"):
        _login(client, name, "wrong", addr="10.9.9.9")
    assert _login(client, "olga", PASSWORD, addr="10.9.9.9").status_code == 429
    assert _login(client, "olga", PASSWORD, addr="10.9.9.8").status_code == 302


def test_a_success_clears_the_username_count(client, operator):
    _login(client, "olga", "wrong", addr="10.1.1.1")
    _login(client, "olga", "wrong", addr="10.1.1.2")
    assert _login(client, "olga", PASSWORD, addr="10.1.1.3").status_code == 302
    client.logout()
    _login(client, "olga", "wrong", addr="10.1.1.4")
    _login(client, "olga", "wrong", addr="10.1.1.5")
    assert _login(client, "olga", PASSWORD, addr="10.1.1.6").status_code == 302
