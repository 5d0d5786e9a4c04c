"""Alert channels from the environment, for twelve-factor deployments.

``ALERT_WEBHOOK_URL`` + ``ALERT_WEBHOOK_SECRET``, ``ALERT_EMAILS``,
``ALERT_TELEGRAM_BOT_TOKEN`` + ``ALERT_TELEGRAM_CHAT_ID``,
``ALERT_BALE_BOT_TOKEN`` + ``ALERT_BALE_CHAT_ID``. Read and validated by
``arbsite/settings.py`` at start (a bad value stops every process with an
error naming the variable); ``manage.py setup`` installs them as channels
named ``env-webhook``, ``env-email``, ``env-telegram``, ``env-bale``.

No Django models are imported here: settings import this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{10,}$")
CHAT_ID = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,})$")
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
MIN_SECRET = 16


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    kind: str
    target: str
    secret: str = ""


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _pair(env: Mapping[str, str], token_var: str, chat_var: str) -> tuple[str, str] | None:
    token, chat = _get(env, token_var), _get(env, chat_var)
    if not token and not chat:
        return None
    if not token or not chat:
        missing = token_var if not token else chat_var
        raise ImproperlyConfigured(f"{missing} must be set together with "
                                   f"{chat_var if missing == token_var else token_var}")
    if not TOKEN.match(token):
        raise ImproperlyConfigured(f"{token_var} does not look like a bot token "
                                   "(digits, a colon, then letters, digits, - or _)")
    if not CHAT_ID.match(chat):
        raise ImproperlyConfigured(f"{chat_var} must be a numeric chat id (e.g. -1001234567890) "
                                   f"or @channelname (got {chat!r})")
    return token, chat


def alert_channels_from_env(env: Mapping[str, str] | None = None) -> list[ChannelSpec]:
    """The channels the environment asks for; ImproperlyConfigured on a bad value."""
    env = os.environ if env is None else env
    specs: list[ChannelSpec] = []
    url, secret = _get(env, "ALERT_WEBHOOK_URL"), _get(env, "ALERT_WEBHOOK_SECRET")
    if url or secret:
        parsed = urlparse(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise ImproperlyConfigured(f"ALERT_WEBHOOK_URL must be an http(s) URL (got {url!r})")
        if len(secret) < MIN_SECRET:
            raise ImproperlyConfigured(
                f"ALERT_WEBHOOK_SECRET must be set with ALERT_WEBHOOK_URL, at least {MIN_SECRET} "
                "characters (the body's HMAC-SHA256 key)")
        specs.append(ChannelSpec("env-webhook", "webhook", url, secret))
    emails = [e.strip() for e in _get(env, "ALERT_EMAILS").split(",") if e.strip()]
    bad = [e for e in emails if not EMAIL.match(e)]
    if bad:
        raise ImproperlyConfigured(f"ALERT_EMAILS: not an e-mail address: {', '.join(bad)}")
    if emails:
        specs.append(ChannelSpec("env-email", "email", ", ".join(emails)))
    for kind in ("telegram", "bale"):
        pair = _pair(env, f"ALERT_{kind.upper()}_BOT_TOKEN", f"ALERT_{kind.upper()}_CHAT_ID")
        if pair:
            specs.append(ChannelSpec(f"env-{kind}", kind, pair[1], pair[0]))
    return specs


def alerts_install(*, specs: list[ChannelSpec], report: object | None = None) -> None:
    """What ``manage.py setup`` does for alerting: the monitor settings row,
    the operators' permissions, the environment's channels."""
    from trading.alerts.models import MonitorSettings
    from trading.alerts.roles import alert_roles_install

    MonitorSettings.load()
    alert_roles_install()
    alert_channels_install(specs=specs, report=report)


def alert_channels_install(*, specs: list[ChannelSpec], report: object | None = None
                           ) -> list[str]:
    """Create or update the environment's channels (target and secret come
    from the environment; severity, quiet hours and the switch stay as the
    admin set them). Returns what was done."""
    from trading.alerts.models import AlertChannel

    done = []
    for spec in specs:
        channel = AlertChannel.objects.filter(name=spec.name).first()
        if channel is None:
            AlertChannel.objects.create(name=spec.name, kind=spec.kind, target=spec.target,
                                        secret=spec.secret, source="environment")
            done.append(f"created alert channel {spec.name}")
            if report is not None:
                report.created.append(f"alert channel {spec.name} ({spec.kind})")
        elif (channel.kind, channel.target, channel.secret) != (spec.kind, spec.target,
                                                                spec.secret):
            channel.kind, channel.target, channel.secret = spec.kind, spec.target, spec.secret
            channel.source = "environment"
            channel._change_reason = "from the environment (setup)"
            channel.save()
            done.append(f"updated alert channel {spec.name}")
            if report is not None:
                report.updated.append(f"alert channel {spec.name} (from the environment)")
        elif report is not None:
            report.unchanged.append(f"alert channel {spec.name}")
    return done
