"""The exchange page says where each credential comes from, as the adapter
registry reads them: the admin's (the row) over the environment's, the
environment's only for the environment's host; never their values."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exchanges import registry
from exchanges.models import Exchange
from tests.admin.conftest import make_user

TOKEN = "env-token-0123456789abcdef"
STORED = "stored-token-abcdef0123456789"


@pytest.fixture
def env_token(settings):
    settings.NOBITEX_API_TOKEN = TOKEN
    settings.NOBITEX_BASE_URL = ""
    registry.clear_cache()
    yield
    registry.clear_cache()


def sources(row: Exchange) -> list[tuple[str, str]]:
    return [(s.credential, s.source) for s in registry.credentials_source(row)]


def test_from_the_environment_when_the_row_has_none(db, env_token):
    row = Exchange.objects.create(name="nobitex", adapter="nobitex")

    assert sources(row) == [("API key", "environment")]
    assert registry.config_for(row).api_key == TOKEN  # what the page says is what is used
    [source] = registry.credentials_source(row)
    assert source.describe() == "API key: from the environment (NOBITEX_API_TOKEN)"


def test_the_admins_win_and_the_unused_variable_is_named(db, env_token):
    row = Exchange.objects.create(name="nobitex", adapter="nobitex", api_key=STORED)

    [source] = registry.credentials_source(row)
    assert (source.source, registry.config_for(row).api_key) == ("admin", STORED)
    assert "NOBITEX_API_TOKEN is also set and is not used" in source.describe()


def test_an_environment_token_never_follows_the_row_to_another_host(db, env_token):
    row = Exchange.objects.create(name="nobitex", adapter="nobitex",
                                  base_url="https://proxy.example.com")

    [source] = registry.credentials_source(row)
    assert source.source == "none" and registry.config_for(row).api_key == ""
    assert "set but not used: calls go to https://proxy.example.com" in source.describe()


def test_invex_has_two_credentials_and_none_set(db, settings):
    settings.INVEX_API_KEY = settings.INVEX_PRIVATE_KEY = ""
    row = Exchange.objects.create(name="invex", adapter="invex")

    assert sources(row) == [("API key", "none"), ("signing key", "none")]
    assert "set it in the admin or in INVEX_PRIVATE_KEY" in (
        registry.credentials_source(row)[1].describe())


def test_the_exchange_page_says_it_without_the_value(client, db, env_token):
    client.force_login(make_user("boss", superuser=True))
    row = Exchange.objects.create(name="nobitex", adapter="nobitex")

    page = client.get(reverse("admin:exchanges_exchange_change", args=[row.pk])).content.decode()
    listing = client.get(reverse("admin:exchanges_exchange_changelist")).content.decode()

    assert "API key: from the environment (NOBITEX_API_TOKEN)" in page
    assert "the environment (NOBITEX_API_TOKEN)" in listing
    assert TOKEN not in page + listing
