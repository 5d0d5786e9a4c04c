"""Channels from the environment: validated at start, installed by setup."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from arbsite.envconfig import alert_channels_from_env
from tests.processes import ROOT
from trading.alerts.envchannels import alert_channels_install
from trading.alerts.models import AlertChannel

GOOD = {"ALERT_WEBHOOK_URL": "https://ops.example.com/hooks/arbsite",
        "ALERT_WEBHOOK_SECRET": "0123456789abcdef-secret",
        "ALERT_EMAILS": "ops@example.com, owner@example.com",
        "ALERT_TELEGRAM_BOT_TOKEN": "123456789:AAE-telegram_token",
        "ALERT_TELEGRAM_CHAT_ID": "-1001234567890",
        "ALERT_BALE_BOT_TOKEN": "987654321:bale-token_value",
        "ALERT_BALE_CHAT_ID": "@arbsite_ops"}


@pytest.mark.parametrize(("changes", "error"), [
    ({"ALERT_WEBHOOK_URL": "ftp://x"}, "ALERT_WEBHOOK_URL must be an http(s) URL"),
    ({"ALERT_WEBHOOK_SECRET": "short"}, "ALERT_WEBHOOK_SECRET must be set"),
    ({"ALERT_EMAILS": "ops@example.com, nobody"}, "ALERT_EMAILS: not an e-mail address: nobody"),
    ({"ALERT_TELEGRAM_CHAT_ID": ""}, "ALERT_TELEGRAM_CHAT_ID must be set together"),
    ({"ALERT_BALE_BOT_TOKEN": "not a token"}, "ALERT_BALE_BOT_TOKEN does not look like"),
    ({"ALERT_BALE_CHAT_ID": "ops room"}, "ALERT_BALE_CHAT_ID must be a numeric chat id"),
])
def test_a_bad_value_names_its_variable(changes, error):
    with pytest.raises(ImproperlyConfigured, match=re.escape(error)):
        alert_channels_from_env({**GOOD, **changes})


def test_a_bad_value_stops_start_up():
    env = {**os.environ, "DEBUG": "true", "ARBSITE_IGNORE_DOTENV": "1",
           "ALERT_WEBHOOK_URL": "https://ops.example.com/x", "ALERT_WEBHOOK_SECRET": ""}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ALERT_WEBHOOK_SECRET must be set" in result.stderr


@pytest.mark.django_db
def test_setup_installs_and_updates_the_environment_channels():
    specs = alert_channels_from_env(GOOD)
    alert_channels_install(specs=specs)
    channels = {c.name: c for c in AlertChannel.objects.all()}
    assert set(channels) == {"env-webhook", "env-email", "env-telegram", "env-bale"}
    assert channels["env-bale"].kind == "bale" and channels["env-bale"].target == "@arbsite_ops"
    assert channels["env-telegram"].secret == "123456789:AAE-telegram_token"
    assert all(c.source == "environment" for c in channels.values())
    # An operator's severity stays; a new secret from the environment replaces the old
    AlertChannel.objects.filter(name="env-webhook").update(min_severity="critical")
    assert alert_channels_install(specs=alert_channels_from_env(GOOD)) == []
    done = alert_channels_install(specs=alert_channels_from_env(
        {**GOOD, "ALERT_WEBHOOK_SECRET": "another-secret-0123456789"}))
    assert done == ["updated alert channel env-webhook"]
    hook = AlertChannel.objects.get(name="env-webhook")
    assert hook.secret == "another-secret-0123456789" and hook.min_severity == "critical"
