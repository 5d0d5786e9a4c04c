"""When an API key expires, where the exchange documents a lifetime: dated
when the admin saves a new key (or when a key from the environment is first
seen), for the alerts to read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from exchanges.credentials import api_key_expiry, api_key_note
from exchanges.models import Exchange
from tests.exchanges.test_admin import admin_client_logged, form_data  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_key_saved_in_the_admin_is_dated_and_its_expiry_known(admin_client_logged):  # noqa: F811
    wallex = Exchange.objects.create(name="wallex", adapter="wallex")
    assert api_key_expiry(wallex).describe() == "no API key"
    url = reverse("admin:exchanges_exchange_change", args=[wallex.pk])
    before = timezone.now()
    admin_client_logged.post(url, form_data(wallex, api_key="wallex-key-1"))
    wallex.refresh_from_db()
    expiry = api_key_expiry(wallex)
    assert expiry.source == "admin" and expiry.entered_at >= before
    assert expiry.expires_at == expiry.entered_at + timedelta(days=90)
    assert "90 days" in expiry.doc and "days left" in expiry.describe()
    page = admin_client_logged.get(url).content.decode()
    assert "expires" in page and "wallex-key-1" not in page

    # A save that does not touch the key keeps its date; a new key is dated afresh
    first = wallex.api_key_entered_at
    admin_client_logged.post(url, form_data(wallex, notes="edited"))
    wallex.refresh_from_db()
    assert wallex.api_key_entered_at == first
    admin_client_logged.post(url, form_data(wallex, api_key="wallex-key-2"))
    wallex.refresh_from_db()
    assert wallex.api_key_entered_at > first


def test_an_old_key_shows_expired_and_a_changed_key_is_not_dated_by_the_old_date():
    nobitex = Exchange.objects.create(name="nobitex", adapter="nobitex", api_key="t-1")
    api_key_note(exchange=nobitex, entered_at=timezone.now() - timedelta(days=31))
    expiry = api_key_expiry(nobitex)
    assert expiry.lifetime == timedelta(days=30)  # nobitex docs: at most 30 days
    assert expiry.remaining() < timedelta(0) and "expired" in expiry.describe()
    nobitex.api_key = "t-2"
    nobitex.save()
    assert api_key_expiry(nobitex).entered_at is None  # not the key that was dated
    assert api_key_note(exchange=nobitex)  # first seen now
    assert api_key_expiry(nobitex).entered_at is not None
    assert not api_key_note(exchange=nobitex)  # the same key: nothing to do


def test_invex_documents_no_lifetime():
    invex = Exchange.objects.create(name="invex", adapter="invex", api_key="k")
    api_key_note(exchange=invex)
    expiry = api_key_expiry(invex)
    assert expiry.lifetime is None and expiry.expires_at is None
    assert "no lifetime documented" in expiry.describe()
