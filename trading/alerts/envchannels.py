"""Alert channels from the environment, for twelve-factor deployments.

``ALERT_WEBHOOK_URL`` + ``ALERT_WEBHOOK_SECRET``, ``ALERT_EMAILS``,
``ALERT_TELEGRAM_BOT_TOKEN`` + ``ALERT_TELEGRAM_CHAT_ID``,
``ALERT_BALE_BOT_TOKEN`` + ``ALERT_BALE_CHAT_ID``: read and validated by
``arbsite/settings.py`` at start (``arbsite.envconfig.alert_channels_from_env``:
a bad value stops every process with an error naming the variable) into
``settings.ALERT_CHANNELS``; ``manage.py setup`` installs them here as
channels named ``env-webhook``, ``env-email``, ``env-telegram``, ``env-bale``.
"""

from __future__ import annotations

from arbsite.envconfig import AlertChannelSpec


def alerts_install(*, specs: list[AlertChannelSpec], report: object | None = None) -> None:
    """What ``manage.py setup`` does for alerting: the monitor settings row,
    the operators' permissions, the environment's channels."""
    from trading.alerts.models import MonitorSettings
    from trading.alerts.roles import alert_roles_install

    MonitorSettings.load()
    alert_roles_install()
    alert_channels_install(specs=specs, report=report)


def alert_channels_install(*, specs: list[AlertChannelSpec], report: object | None = None
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
