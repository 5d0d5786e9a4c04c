"""The alerting and capital permissions of the viewer and operator groups.

``trading.services.roles.groups_install`` gives viewers every ``view_``
permission of the app; this adds what an operator may do here. Called by
the migration that creates these models and by ``manage.py setup``; it
only ever adds.
"""

from __future__ import annotations

from django.apps import apps as django_apps
from django.apps.registry import Apps

MODELS = ("alert", "alertchannel", "alertmessage", "alertdelivery", "deliveryattempt",
          "monitorsettings", "capitalbudget", "transfer", "ledgercheck")

OPERATOR_PERMISSIONS = (
    "can_acknowledge_alerts", "can_test_alert_channels",
    "change_alertchannel", "change_monitorsettings", "change_capitalbudget",
    "can_record_transfers",
)


def alert_roles_install(*, apps: Apps = django_apps) -> None:
    from trading.services.roles import OPERATOR, VIEWER, _ensure_permissions

    _ensure_permissions(apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    views = permission_model.objects.filter(content_type__app_label="trading",
                                            codename__in=[f"view_{m}" for m in MODELS])
    actions = permission_model.objects.filter(content_type__app_label="trading",
                                              codename__in=OPERATOR_PERMISSIONS)
    viewer, _ = group_model.objects.get_or_create(name=VIEWER)
    viewer.permissions.add(*views)
    operator, _ = group_model.objects.get_or_create(name=OPERATOR)
    operator.permissions.add(*views, *actions)
