"""A new user finds the control panel and the reports from the admin index."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_viewer_finds_the_control_panel_and_the_reports(viewer_client):
    body = viewer_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:control_panel") in body
    assert reverse("reports:overview") in body
    assert viewer_client.get(reverse("reports:overview")).status_code == 200
