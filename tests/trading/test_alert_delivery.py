"""Delivery: a local receiver checks the webhook's signature; with it down
nothing is lost, and once it is back each alert arrives exactly once.
Telegram and Bale through a Bot API look-alike; e-mail through Django's
mail; the real worker delivers after the alert's commit."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from freezegun import freeze_time

from tests.trading.alert_receiver import AlertReceiver
from trading.alerts.channels import SIGNATURE_HEADER, webhook_signature_valid
from trading.alerts.delivery import deliveries_send
from trading.alerts.kinds import AlertKind
from trading.alerts.models import AlertChannel, AlertDelivery, DeliveryAttempt
from trading.alerts.services import alert_raise

SECRET = "a-webhook-signing-secret-0123"


@pytest.fixture
def receiver():
    server = AlertReceiver().start()
    yield server
    server.stop()


def _hook(receiver: AlertReceiver) -> AlertChannel:
    return AlertChannel.objects.create(name="ops-hook", kind="webhook",
                                       target=receiver.url + "/hooks/arbsite", secret=SECRET)


@pytest.mark.django_db
def test_webhook_down_then_up_each_alert_delivered_exactly_once_and_signed(receiver):
    channel = _hook(receiver)
    port = receiver.port
    # Given the receiver is down
    receiver.stop()
    alerts = [alert_raise(kind=AlertKind.BOOKS_STALE, subject=f"exchange:x{i}",
                          title=f"Books of x{i} stale") for i in range(3)]

    # When the sweep runs: the first delivery fails, the channel backs off, nothing is lost
    report = deliveries_send()
    assert report.sent == 0 and report.failed == 1
    channel.refresh_from_db()
    assert channel.failures == 1 and channel.retry_at > timezone.now()
    assert "ConnectionError" in channel.last_error
    assert AlertDelivery.objects.filter(status="pending").count() == 3
    # A sweep during the back-off does not hammer the channel
    assert deliveries_send().failed == 0
    assert DeliveryAttempt.objects.count() == 1

    # When the receiver is back and the back-off has passed
    receiver.port = port
    receiver.start()
    with freeze_time(timezone.now() + timedelta(seconds=6)):
        report = deliveries_send()
    assert report.sent == 3
    # Then each alert arrived once, in order, signed; later sweeps send nothing again
    assert deliveries_send().sent == 0
    bodies = [r.json() for r in receiver.requests]
    assert [b["alert"]["id"] for b in bodies] == [a.pk for a in alerts]
    for request in receiver.requests:
        assert request.path == "/hooks/arbsite"
        assert webhook_signature_valid(SECRET, request.body, request.headers[SIGNATURE_HEADER])
        assert not webhook_signature_valid("another secret", request.body,
                                           request.headers[SIGNATURE_HEADER])
    assert bodies[0]["event"] == "raised" and bodies[0]["severity"] == "warning"
    assert {r.headers["X-Arbsite-Delivery"] for r in receiver.requests} == {
        str(d.pk) for d in AlertDelivery.objects.all()}
    # and every attempt is kept: the failure and the three sends
    assert DeliveryAttempt.objects.filter(ok=False).count() == 1
    assert DeliveryAttempt.objects.filter(ok=True).count() == 3
    channel.refresh_from_db()
    assert channel.failures == 0 and channel.last_success_at is not None


@pytest.mark.django_db
def test_a_refused_message_is_given_up_after_five_refusals_and_can_be_retried(receiver):
    from trading.alerts.delivery import delivery_retry

    _hook(receiver)
    receiver.status = 400
    alert_raise(kind=AlertKind.BOOKS_STALE, subject="exchange:a", title="stale")
    for i in range(5):
        with freeze_time(timezone.now() + timedelta(hours=i + 1)):
            deliveries_send()
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "failed" and delivery.refusals == 5
    assert "HTTP 400" in delivery.last_error
    receiver.status = 200
    assert delivery_retry(delivery_ids=[delivery.pk]) == 1
    assert deliveries_send().sent == 1
    assert len(receiver.requests) == 6


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["telegram", "bale"])
def test_telegram_and_bale_send_the_message_text_to_the_bot_api(receiver, kind):
    token = "123456789:AAE-test_token_value"
    AlertChannel.objects.create(name=kind, kind=kind, target="-1001234567890", secret=token,
                                api_base_url=receiver.url)
    alert_raise(kind=AlertKind.EXCHANGE_DOWN, subject="exchange:nobitex",
                title="nobitex is down: unreachable for 12 min", message="Exchange-down mode.")
    assert deliveries_send().sent == 1
    request = receiver.requests[0]
    assert request.path == f"/bot{token}/sendMessage"
    body = request.json()
    assert body["chat_id"] == "-1001234567890"
    assert body["text"].startswith("[CRITICAL] nobitex is down")

    # A failure's error never shows the token
    receiver.stop()
    alert_raise(kind=AlertKind.EXCHANGE_DOWN, subject="exchange:wallex", title="wallex down")
    deliveries_send()
    error = AlertDelivery.objects.get(status="pending").last_error
    assert error and token not in error and "<redacted>" in error


def test_the_bot_hosts_are_telegram_and_bale():
    from trading.alerts.channels import BALE_API, TELEGRAM_API

    assert TELEGRAM_API == "https://api.telegram.org"
    assert BALE_API == "https://tapi.bale.ai"


@pytest.mark.django_db
def test_email_goes_through_django_mail():
    AlertChannel.objects.create(name="mail", kind="email", target="ops@example.com, b@example.com")
    alert_raise(kind=AlertKind.LEDGER_MISMATCH, subject="ledger:nobitex:BTC",
                title="Ledger mismatch on nobitex: BTC off by -0.01")
    assert deliveries_send().sent == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com", "b@example.com"]
    assert "Ledger mismatch on nobitex" in mail.outbox[0].subject


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_the_alert_commits(receiver, tmp_path, monkeypatch):
    from arbsite.celery import app as celery_app
    from tests.processes import celery_worker

    _hook(receiver)
    with celery_worker(name="alerts", log_path=tmp_path / "worker.log") as worker:
        # Celery 5.6 reads the CELERY_-namespaced key; older ones the bare one.
        monkeypatch.setitem(celery_app.conf, "task_default_queue", worker.queue)
        monkeypatch.setitem(celery_app.conf, "CELERY_TASK_DEFAULT_QUEUE", worker.queue)
        alert_raise(kind=AlertKind.RECOVERY_INCOMPLETE, subject="", title="Recovery incomplete")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.requests:
            time.sleep(0.2)
    assert len(receiver.requests) == 1, (tmp_path / "worker.log").read_text()[-3000:]
    assert receiver.requests[0].json()["alert"]["kind"] == "recovery_incomplete"
    assert AlertDelivery.objects.get().status == "sent"
