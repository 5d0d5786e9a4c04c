"""The dead process is reported by another one: a real beat with no worker
raises and delivers "worker missing" itself; a real worker with no beat
raises and delivers "beat missing"."""

from __future__ import annotations

import time

import pytest

from tests.processes import celery_worker
from tests.trading.alert_receiver import AlertReceiver
from tests.trading.test_e2e import celery_beat
from trading.alerts.models import Alert, AlertChannel, MonitorSettings
from trading.services.setup import schedule_install

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("ARBSITE_WATCHDOG_SECONDS", "1")
    server = AlertReceiver().start()
    AlertChannel.objects.create(name="hook", kind="webhook", target=server.url + "/hook",
                                secret="s" * 20)
    settings_row = MonitorSettings.load()
    settings_row.heartbeat_max_age_seconds = 3
    settings_row.save()
    yield server
    server.stop()


def _wait_for(receiver: AlertReceiver, kind: str, seconds: float = 30) -> dict | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for request in receiver.requests:
            body = request.json()
            if (body.get("alert") or {}).get("kind") == kind:
                return body
        time.sleep(0.3)
    return None


def test_beat_alone_raises_and_delivers_worker_missing(receiver, tmp_path):
    schedule_install()
    with celery_beat("no-worker-listens-here", tmp_path / "beat.log"):
        body = _wait_for(receiver, "worker_missing")
    assert body is not None, (tmp_path / "beat.log").read_text()[-3000:]
    assert body["alert"]["details"]["seen_by"] == "beat"
    assert body["severity"] == "critical"
    assert Alert.objects.get(kind="worker_missing").messages.get().deliveries.get().status == "sent"


def test_a_worker_without_beat_raises_and_delivers_beat_missing(receiver, tmp_path):
    with celery_worker(name="lonely", log_path=tmp_path / "worker.log"):
        body = _wait_for(receiver, "beat_missing")
    assert body is not None, (tmp_path / "worker.log").read_text()[-3000:]
    assert body["alert"]["details"]["seen_by"].startswith("worker:lonely-")
