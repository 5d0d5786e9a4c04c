"""The admin's roles: "viewer" reads everything and changes nothing;
"operator" also runs the control actions and edits configuration.

``groups_install`` is idempotent and only ever adds permissions, so
permissions an administrator granted a group by hand survive it. The data
migration ``trading/0004_roles`` and ``manage.py setup`` both call it.
"""

from __future__ import annotations

from django.apps import apps as django_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions

VIEWER = "viewer"
OPERATOR = "operator"

# Apps whose every model a viewer may see ("admin": the audit log).
VIEW_APPS = ("trading", "exchanges", "django_celery_beat", "admin")

# The control actions (custom permissions, see trading.models Meta).
ACTION_PERMISSIONS = (
    ("trading", "can_trip_kill_switch"),
    ("trading", "can_pause_trading"),
    ("trading", "can_reset_breaker"),
    ("trading", "can_run_recovery"),
    ("trading", "can_cancel_orders"),
    ("trading", "can_resync_orders"),
    ("trading", "can_resolve_orders"),
    ("trading", "can_end_protection"),
)

# What an operator may edit: order notes and tags (the form allows nothing
# else), risk limits, exchange settings and markets. Never add or delete.
OPERATOR_CHANGE_PERMISSIONS = (
    ("trading", "change_order"),
    ("trading", "change_risksettings"),
    ("exchanges", "change_exchange"),
    ("exchanges", "change_market"),
    ("exchanges", "change_exchangemarket"),
)


def _ensure_permissions(apps: Apps) -> None:
    """Permissions are normally created after ``migrate``; a data migration
    needs them now."""
    for label in VIEW_APPS:
        try:
            app_config = apps.get_app_config(label)
        except LookupError:
            continue
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = models_module


def groups_install(*, apps: Apps = django_apps) -> dict[str, int]:
    """Create the viewer and operator groups with their permissions if
    missing; return how many permissions each group has."""
    _ensure_permissions(apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")

    view = list(
        permission_model.objects.filter(
            content_type__app_label__in=VIEW_APPS, codename__startswith="view_"
        )
    )
    wanted = ACTION_PERMISSIONS + OPERATOR_CHANGE_PERMISSIONS
    found = {(p.content_type.app_label, p.codename): p for p in
             permission_model.objects.filter(codename__in=[c for _, c in wanted])
             .select_related("content_type")}
    missing = [f"{a}.{c}" for a, c in wanted if (a, c) not in found]
    # A data migration runs with the models of its time: a permission of a
    # later model is added by the migration that creates it (trading 0013).
    if missing and apps is django_apps:
        raise LookupError(f"permissions missing: {', '.join(missing)}")
    extra = [found[w] for w in wanted if w in found]
    viewer, _ = group_model.objects.get_or_create(name=VIEWER)
    viewer.permissions.add(*view)
    operator, _ = group_model.objects.get_or_create(name=OPERATOR)
    operator.permissions.add(*view, *extra)
    return {VIEWER: viewer.permissions.count(), OPERATOR: operator.permissions.count()}
