"""The overview in headless Chromium, logged in through the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.browser import screenshot
from trading.services.demo import demo_seed


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_reader_opens_the_overview_and_its_charts(page, live_server):
    demo_seed(trades=800, days=30, seed=5)
    User.objects.create_superuser("owner", password="pw-owner-1234")

    page.goto(f"{live_server.url}/reports/?period=30d")
    page.fill("input[name=username]", "owner")  # anonymous: sent to the admin login
    page.fill("input[name=password]", "pw-owner-1234")
    page.click("input[type=submit]")
    page.wait_for_url("**/reports/**")

    assert page.locator("table[data-table=summary]").is_visible()
    assert page.locator("svg.chart").count() >= 8
    assert "Realized P&L after fees (rial)" in page.inner_text(".cards")
    path = screenshot(page, "reports-overview")
    assert path.stat().st_size > 10_000
    page.click("text=By day")
    assert page.locator("table[data-table=days] tbody tr").count() == 30
