"""The exchange admin: credentials write-only, breaker visible and resettable."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from exchanges.breaker import CircuitBreaker, breaker_state
from exchanges.models import Exchange

SECRET = "super-secret-token-abcdef123456"


@pytest.fixture
def admin_client_logged(client, db):
    user = User.objects.create_superuser("ops", "ops@example.com", "pw-123456789")
    client.force_login(user)
    return client


@pytest.fixture
def nobitex(db):
    return Exchange.objects.create(name="nobitex", adapter="nobitex", api_key=SECRET)


def form_data(exchange: Exchange, **changes) -> dict:
    data = {
        "name": exchange.name, "adapter": exchange.adapter, "enabled": "on",
        "trading_enabled": "on", "taker_fee": "0.0025", "maker_fee": "0.002", "base_url": "",
        "api_key": "", "api_secret": "", "notes": "",
        "markets-TOTAL_FORMS": "0", "markets-INITIAL_FORMS": "0",
        "markets-MIN_NUM_FORMS": "0", "markets-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_credentials_never_shown(admin_client_logged, nobitex):
    change = admin_client_logged.get(reverse("admin:exchanges_exchange_change",
                                             args=[nobitex.pk]))
    listing = admin_client_logged.get(reverse("admin:exchanges_exchange_changelist"))
    assert change.status_code == listing.status_code == 200
    assert SECRET not in change.content.decode() + listing.content.decode()
    # Where the credential comes from, never what it is.
    assert "the admin" in listing.content.decode()
    assert "API key: from the admin (stored encrypted" in change.content.decode()


def test_blank_keeps_the_stored_credential(admin_client_logged, nobitex):
    url = reverse("admin:exchanges_exchange_change", args=[nobitex.pk])
    response = admin_client_logged.post(url, form_data(nobitex, notes="edited"))
    assert response.status_code == 302
    nobitex.refresh_from_db()
    assert nobitex.api_key == SECRET and nobitex.notes == "edited"

    admin_client_logged.post(url, form_data(nobitex, api_key="new-token-1234567"))
    nobitex.refresh_from_db()
    assert nobitex.api_key == "new-token-1234567"

    admin_client_logged.post(url, form_data(nobitex, clear_credentials="on"))
    nobitex.refresh_from_db()
    assert nobitex.api_key == ""


def test_breaker_shown_and_reset(admin_client_logged, nobitex):
    breaker = CircuitBreaker("nobitex", threshold=1)
    breaker.record_failure("nobitex: HTTP 502 bad gateway")
    listing = admin_client_logged.get(reverse("admin:exchanges_exchange_changelist"))
    assert "open (1 failures)" in listing.content.decode()

    # Resetting is a confirmed action of the control panel, linked from the row.
    reset_url = reverse("admin:control_exchange", args=[nobitex.pk, "reset-breaker"])
    assert reset_url in listing.content.decode()
    admin_client_logged.get(reset_url)
    assert breaker_state("nobitex").state == "open"
    admin_client_logged.post(reset_url, {"reason": "exchange answers again"})
    assert breaker_state("nobitex").state == "closed"


def test_wire_variants_rate_limit_and_auth_stop_are_shown(admin_client_logged, nobitex):
    from exchanges.ratelimit import RateLimiter

    nobitex.wire_variants = {"nobitex-page-size": "1000"}
    nobitex.save()
    CircuitBreaker("nobitex").record_auth_failure(
        "authentication refused: nobitex: HTTP 401 [InvalidToken] Invalid token.")
    RateLimiter("nobitex", {}).record_backoff(42, "HTTP 429 on GET /market/orders/list")
    change = admin_client_logged.get(reverse("admin:exchanges_exchange_change",
                                             args=[nobitex.pk])).content.decode()
    assert "nobitex-page-size=1000" in change
    assert "nobitex-not-found=failed (default)" in change
    assert "private calls stopped: authentication refused" in change
    assert "HTTP 429 on GET /market/orders/list" in change
    listing = admin_client_logged.get(reverse("admin:exchanges_exchange_changelist"))
    assert "open for private calls" in listing.content.decode()
    # Read-only here: a POST of the form does not change them.
    admin_client_logged.post(reverse("admin:exchanges_exchange_change", args=[nobitex.pk]),
                             form_data(nobitex, wire_variants='{"nobitex-page-size": "100"}'))
    nobitex.refresh_from_db()
    assert nobitex.wire_variants == {"nobitex-page-size": "1000"}
