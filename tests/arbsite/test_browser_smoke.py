"""The browser harness itself: Debian's chromium renders the admin login."""

import pytest

from tests.browser import screenshot


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chromium_renders_the_admin_login_page(page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    assert page.locator("input[name=username]").is_visible()
    assert screenshot(page, "admin-login").stat().st_size > 1000
