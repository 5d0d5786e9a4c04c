"""A risk setting changed in the admin applies to the very next detection, though
detection keeps its reads between changes (trading/services/decision_cache.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.trading.test_detection import (  # noqa: F401 - fixtures and helpers
    NOW,
    clean_redis,
    enqueue_execution,
    scene,
    sent,
    set_risk,
)
from trading.models import Opportunity, RiskSettings
from trading.services.detection import opportunities_detect

pytestmark = pytest.mark.django_db(transaction=True)


def _detect(ms: int):
    return opportunities_detect(now=NOW + timedelta(milliseconds=ms),
                                enqueue_execution=enqueue_execution)


def test_risk_settings_changed_in_the_admin_apply_to_the_next_detection(
        scene, sent, operator_client, django_assert_num_queries):  # noqa: F811
    set_risk(min_profit_irr=Decimal("100"))  # the scene's 65 rial is too little
    assert _detect(250).opportunities_created == 0
    with django_assert_num_queries(0):  # the reads are kept
        assert _detect(260).opportunities_created == 0

    # When an operator lowers the minimum profit in the admin's change form
    row = RiskSettings.load()
    form = {f.name: getattr(row, f.name) for f in RiskSettings._meta.fields
            if f.editable and f.name not in ("id", "updated_by", "kill_switch",
                                             "kill_switch_reason", "kill_switch_set_by",
                                             "kill_switch_set_at")}
    form.update({"max_exposure": "{}", "min_profit_irr": "10"})
    form = {name: ("" if value is None else value) for name, value in form.items()}
    response = operator_client.post(reverse("admin:trading_risksettings_change",
                                            args=[row.pk]), form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert RiskSettings.load().min_profit_irr == Decimal("10")

    # Then the next detection uses it
    assert _detect(270).opportunities_created == 1
    assert sent == [Opportunity.objects.get().pk]
