"""Client order ids: valid on every exchange (Wallex's strict rule), at most 32
characters (Nobitex), unique across exchanges and never reused."""

from __future__ import annotations

import re

import pytest

from exchanges.client_ids import is_strictly_valid, new_client_order_id

KINDS = ["nobitex", "wallex", "invex"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("purpose", ["entry", "unwind", "test", "manual", "external"])
def test_valid_under_the_strictest_documented_rule(kind, purpose):
    client_id = new_client_order_id(exchange_kind=kind, purpose=purpose)
    assert re.fullmatch(r"[A-Z0-9_]{1,32}", client_id)
    assert is_strictly_valid(client_id)


def test_unique_across_exchanges_and_calls_even_in_the_same_millisecond():
    ids = [new_client_order_id(exchange_kind=kind, purpose="entry", now_ms=1_700_000_000_000)
           for kind in KINDS for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert {i[0] for i in ids} == {"N", "W", "I"}


def test_time_ordered_within_an_exchange():
    first = new_client_order_id(exchange_kind="wallex", purpose="entry", now_ms=1_000)
    later = new_client_order_id(exchange_kind="wallex", purpose="entry", now_ms=2_000)
    assert first[3:13] < later[3:13]


def test_the_old_minting_is_outside_wallexs_rule():
    assert not is_strictly_valid("arb-93c7f0e1d2")


@pytest.mark.parametrize(("kind", "purpose"), [("kraken", "entry"), ("wallex", "hedge")])
def test_unknown_exchange_or_purpose_is_refused(kind, purpose):
    with pytest.raises(ValueError):
        new_client_order_id(exchange_kind=kind, purpose=purpose)
