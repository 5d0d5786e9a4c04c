"""The opportunity state machine: each change once, by compare-and-set,
with its event; the history is shown read-only in the admin."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_exchange, make_market, make_opportunity
from trading.models import Opportunity, OpportunityEvent
from trading.services.opportunities import (
    opportunities_expire,
    opportunity_claim,
    opportunity_refuse,
    opportunity_settle,
)

pytestmark = pytest.mark.django_db
S = Opportunity.Status


@pytest.fixture
def opportunity():
    return make_opportunity(market=make_market("BTC", "IRR"), buy=make_exchange("nobitex"),
                            sell=make_exchange("wallex"), quantity=Decimal("0.01"),
                            buy_price=Decimal("100"), sell_price=Decimal("101"))


def _history(opportunity) -> list[tuple[str, str, str]]:
    return list(opportunity.events.order_by("id").values_list("from_status", "to_status",
                                                              "source"))


def test_an_opportunity_is_claimed_once_and_settled_once(opportunity):
    assert opportunity_claim(opportunity_id=opportunity.pk, source="executor")
    assert not opportunity_claim(opportunity_id=opportunity.pk, source="executor")

    assert opportunity_settle(opportunity_id=opportunity.pk, status=S.DONE,
                              realized_pnl=Decimal("7"), reason="", source="executor")
    assert not opportunity_settle(opportunity_id=opportunity.pk, status=S.PARTIAL,
                                  realized_pnl=Decimal("0"), reason="", source="sync")

    opportunity.refresh_from_db()
    assert (opportunity.status, opportunity.realized_pnl) == (S.DONE, Decimal("7"))
    assert opportunity.executed_at is not None and opportunity.closed_at is not None
    assert _history(opportunity) == [("detected", "executing", "executor"),
                                     ("executing", "done", "executor")]


def test_a_refusal_keeps_its_reason_on_the_row_and_in_the_history(opportunity):
    opportunity_claim(opportunity_id=opportunity.pk, source="executor")

    assert opportunity_refuse(opportunity_id=opportunity.pk, reason="kill switch on: test",
                              source="executor")

    opportunity.refresh_from_db()
    assert (opportunity.status, opportunity.reason) == (S.REJECTED, "kill switch on: test")
    assert opportunity.events.order_by("-id").first().message == "kill switch on: test"


def test_an_expiry_never_takes_a_claimed_opportunity(opportunity):
    later = timezone.now() + timedelta(minutes=5)
    other = make_opportunity(market=make_market("ETH", "IRR"), buy=make_exchange("nobitex"),
                             sell=make_exchange("wallex"), quantity=Decimal("1"),
                             buy_price=Decimal("10"), sell_price=Decimal("11"))
    opportunity_claim(opportunity_id=opportunity.pk, source="executor")

    assert opportunities_expire(now=later) == 1

    opportunity.refresh_from_db()
    other.refresh_from_db()
    assert (opportunity.status, other.status) == (S.EXECUTING, S.REJECTED)
    assert _history(other) == [("detected", "rejected", "sync")]
    assert _history(opportunity) == [("detected", "executing", "executor")]


def test_a_status_outside_the_machine_is_refused(opportunity):
    with pytest.raises(ValueError, match="not a settled status"):
        opportunity_settle(opportunity_id=opportunity.pk, status=S.REJECTED,
                           realized_pnl=Decimal("0"), reason="", source="sync")
    assert not OpportunityEvent.objects.exists()


def test_the_history_is_shown_read_only_on_the_opportunity_page(client, opportunity):
    opportunity_claim(opportunity_id=opportunity.pk, source="executor")
    opportunity_refuse(opportunity_id=opportunity.pk, reason="market paused", source="executor")
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "x"))

    page = client.get(reverse("admin:trading_opportunity_change", args=[opportunity.pk]))

    assert page.status_code == 200
    events = page.context["inline_admin_formsets"][0]
    assert events.opts.model is OpportunityEvent
    assert not events.has_add_permission and not events.has_delete_permission
    assert "market paused" in page.content.decode()
