"""The adapter registry's per-process cache: no query or decryption while
the Exchange row is unchanged and the cache is fresh; a saved change applies
at once, any other within EXCHANGE_ADAPTER_CACHE_SECONDS."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges import registry
from exchanges.models import Exchange, ExchangeMarket
from trading.services.setup import exchanges_install


@pytest.fixture
def nobitex(db, settings):
    settings.EXCHANGE_ADAPTER_CACHE_SECONDS = 60
    exchanges_install(names=["nobitex"], market_codes=["BTC-IRR"])
    exchange = Exchange.objects.get(name="nobitex")
    exchange.base_url = "http://127.0.0.1:1/nobitex"
    exchange.api_key = "token-one"
    exchange.save()
    registry.clear_cache()
    yield Exchange.objects.get(pk=exchange.pk)
    registry.clear_cache()


def test_an_unchanged_row_reuses_its_adapter_without_a_query(nobitex, django_assert_num_queries):
    adapter = registry.get_adapter(nobitex)

    with django_assert_num_queries(0):
        again = registry.get_adapter(nobitex)

    assert again is adapter
    assert adapter.config.api_key == "token-one"


def test_a_saved_change_applies_to_the_next_call(nobitex):
    adapter = registry.get_adapter(nobitex)

    nobitex.api_key = "token-two"
    nobitex.save()

    fresh = registry.get_adapter(Exchange.objects.get(pk=nobitex.pk))
    assert fresh is not adapter
    assert fresh.config.api_key == "token-two"


def test_other_changes_apply_once_the_cache_is_older_than_its_seconds(nobitex, settings):
    adapter = registry.get_adapter(nobitex)
    ExchangeMarket.objects.filter(exchange=nobitex).update(amount_step=Decimal("0.01"))

    # Within the cache's seconds the row is unchanged: the adapter stays.
    assert registry.get_adapter(nobitex) is adapter

    settings.EXCHANGE_ADAPTER_CACHE_SECONDS = 0
    fresh = registry.get_adapter(nobitex)
    assert fresh is not adapter
    assert fresh.config.markets["BTC-IRR"].amount_step == Decimal("0.01")


def test_an_unchanged_configuration_keeps_its_adapter_after_the_check(nobitex, settings):
    adapter = registry.get_adapter(nobitex)
    settings.EXCHANGE_ADAPTER_CACHE_SECONDS = 0

    assert registry.get_adapter(nobitex) is adapter  # rebuilt, compared, kept


def test_a_row_loaded_without_its_credentials_still_gets_them(nobitex):
    row = Exchange.objects.defer("api_key", "api_secret").get(pk=nobitex.pk)

    adapter = registry.get_adapter(row)

    assert adapter.config.api_key == "token-one"


def test_wire_variants_come_from_the_row_over_the_deployment_defaults(nobitex, settings):
    settings.EXCHANGE_WIRE_VARIANTS = {"nobitex": {"nobitex-page-size": "1000",
                                                   "nobitex-not-found": "drf"}}
    nobitex.wire_variants = {"nobitex-not-found": "empty"}
    nobitex.save()
    adapter = registry.get_adapter(nobitex)
    assert adapter.variants == {"nobitex-page-size": "1000", "nobitex-not-found": "empty"}
    assert adapter.page_size == 1000


def test_a_bad_wire_variant_stops_the_exchange_with_a_clear_error(nobitex):
    from django.core.exceptions import ValidationError

    from exchanges.errors import ConfigurationError

    nobitex.wire_variants = {"nobitex-page-size": "5000"}
    with pytest.raises(ValidationError, match="nobitex-page-size"):
        nobitex.full_clean()
    nobitex.save()
    with pytest.raises(ConfigurationError, match="nobitex: wire variants: .*5000"):
        registry.get_adapter(nobitex)


def test_a_probe_adapter_is_fresh_and_never_the_cached_one(nobitex):
    cached = registry.get_adapter(nobitex)
    probe = registry.probe_adapter(nobitex)
    assert probe is not cached and probe.probe and not cached.probe
    assert probe.http.breaker is None
    assert registry.get_adapter(nobitex) is cached
    probe.close()
