"""Alerts in the admin: acknowledge and resolve confirmed with a reason and
audited; operators only; open alerts head the control panel; channel
secrets are write-only; a test alert goes through the delivery path."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from tests.trading.alert_receiver import AlertReceiver
from trading.alerts.kinds import AlertKind
from trading.alerts.models import Alert, AlertChannel, AlertDelivery
from trading.alerts.services import alert_raise

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(db):
    return alert_raise(kind=AlertKind.EXCHANGE_DOWN, subject="exchange:invex",
                       title="invex is down: unreachable for 12 min",
                       message="Exchange-down mode: no new opportunities on invex.")


def test_an_operator_acknowledges_with_a_reason_and_it_is_logged(operator_client, alert):
    url = reverse("admin:trading_alert_acknowledge") + f"?ids={alert.pk}"
    page = operator_client.get(url)
    assert page.status_code == 200 and b"invex is down" in page.content
    alert.refresh_from_db()
    assert alert.state == "open"  # the confirmation page changes nothing

    refused = operator_client.post(url, {"reason": ""})
    assert refused.status_code == 200 and b"This field is required" in refused.content
    alert.refresh_from_db()
    assert alert.state == "open"

    done = operator_client.post(url, {"reason": "calling invex support"})
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledged_by.username == "olga"
    assert alert.acknowledge_reason == "calling invex support"
    entry = LogEntry.objects.get(object_id=str(alert.pk))
    assert "calling invex support" in entry.change_message


def test_resolve_by_hand_sends_the_resolved_message(operator_client, alert):
    AlertChannel.objects.create(name="h", kind="webhook", target="http://127.0.0.1:9/",
                                secret="s" * 20)
    url = reverse("admin:trading_alert_resolve") + f"?ids={alert.pk}"
    assert operator_client.post(url, {"reason": "moved funds off invex"}).status_code == 302
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_by == "admin:olga"
    assert alert.messages.filter(kind="resolved").exists()


def test_a_viewer_sees_alerts_but_cannot_act(viewer_client, alert):
    assert viewer_client.get(reverse("admin:trading_alert_changelist")).status_code == 200
    url = reverse("admin:trading_alert_acknowledge") + f"?ids={alert.pk}"
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, {"reason": "x"}).status_code == 403
    alert.refresh_from_db()
    assert alert.state == "open"


def test_open_alerts_head_the_control_panel(operator_client, alert):
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert page.index('id="open-alerts"') < page.index('id="kill-switch"')
    assert "invex is down: unreachable for 12 min" in page
    assert f'id="ack-alert-{alert.pk}"' in page


def test_the_panel_shows_the_worst_eight_and_links_to_the_rest(operator_client, alert):
    # A demo that unwinds often opens one alert per unwind: the panel stays
    # readable, the critical one on top, the rest one click away.
    for n in range(10):
        alert_raise(kind=AlertKind.UNWIND_EXECUTED, subject=f"opportunity:{n}",
                    title=f"Unwind executed: opportunity #{n}", message="One leg filled alone.")
    page = operator_client.get(reverse("admin:control_panel")).content.decode()
    panel = page[page.index('id="open-alerts"'):page.index('id="kill-switch"')]
    assert "Open alerts (11)" in panel
    assert panel.count('<tr id="alert-') == 8
    assert "invex is down" in panel  # critical first
    assert 'id="more-alerts"' in panel and "and 3 more" in panel
    listing = operator_client.get(reverse("admin:trading_alert_changelist")
                                  + "?state__in=open,acknowledged")
    assert listing.status_code == 200 and "11 alerts" in listing.content.decode()


def test_the_alert_list_filters(operator_client, alert):
    alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:wallex", title="wallex stale")
    page = operator_client.get(reverse("admin:trading_alert_changelist") + "?severity=critical")
    assert b"invex is down" in page.content and b"wallex stale" not in page.content


def test_a_channel_secret_is_write_only(client, db):
    from tests.admin.conftest import make_user

    client.force_login(make_user("root", superuser=True))
    add = reverse("admin:trading_alertchannel_add")
    response = client.post(add, {"name": "bale-ops", "kind": "bale", "enabled": "on",
                                 "target": "-100123", "new_secret": "111111:bale-secret-token",
                                 "api_base_url": "", "min_severity": "warning"})
    assert response.status_code == 302, response.content[:2000]
    channel = AlertChannel.objects.get(name="bale-ops")
    assert channel.secret == "111111:bale-secret-token"
    change = reverse("admin:trading_alertchannel_change", args=[channel.pk])
    assert b"bale-secret-token" not in client.get(change).content
    # Saved again without a secret: the stored one stays
    client.post(change, {"name": "bale-ops", "kind": "bale", "enabled": "on",
                         "target": "-100456", "new_secret": "", "api_base_url": "",
                         "min_severity": "critical"})
    channel.refresh_from_db()
    assert channel.target == "-100456" and channel.secret == "111111:bale-secret-token"
    # Stored encrypted
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM trading_alertchannel WHERE id = %s", [channel.pk])
        assert "bale-secret-token" not in cursor.fetchone()[0]


def test_send_a_test_alert_through_a_channel(operator_client):
    receiver = AlertReceiver().start()
    try:
        channel = AlertChannel.objects.create(name="hook", kind="webhook",
                                              target=receiver.url + "/h", secret="s" * 20)
        response = operator_client.post(reverse("admin:trading_alertchannel_changelist"), {
            "action": "send_test_alert", "_selected_action": [channel.pk], "index": 0},
            follow=True)
        assert b"Hook: delivered" in response.content
        assert receiver.requests[0].json()["event"] == "test"
        assert AlertDelivery.objects.get().status == "sent"
        assert not Alert.objects.exists()
    finally:
        receiver.stop()
