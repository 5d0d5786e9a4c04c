"""The builders never hand back a row other than the one asked for."""

from decimal import Decimal

import pytest

from tests.factories import BuilderConflict, make_exchange

pytestmark = pytest.mark.django_db


def test_an_existing_exchange_with_other_fields_is_refused():
    make_exchange("wallex", taker_fee=Decimal("0.004"))

    assert make_exchange("wallex").taker_fee == Decimal("0.004")  # same row, nothing asked
    assert make_exchange("wallex", taker_fee=Decimal("0.004")).name == "wallex"
    with pytest.raises(BuilderConflict, match="taker_fee"):
        make_exchange("wallex", taker_fee=Decimal("0"))
