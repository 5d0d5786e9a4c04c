"""The control panel says which beat schedules, and that a second one was refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from arbsite.beat import BeatLease, BeatLeaseHeld

pytestmark = pytest.mark.django_db


def test_the_panel_shows_the_beat_and_a_refused_second_one(operator_client, settings):
    settings.BEAT_LEASE_SECONDS = 30
    running = BeatLease.new()
    running.acquire()
    with pytest.raises(BeatLeaseHeld):
        BeatLease.new().acquire()  # a second beat, refused

    body = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert f"scheduling: {running.holder['host']} pid {running.holder['pid']}" in body
    assert "a second beat" in body and "was refused" in body

    running.release()
    body = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "no beat holds the lease" in body
