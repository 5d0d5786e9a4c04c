"""The "viewer" and "operator" groups (see trading/services/roles.py)."""

from django.db import migrations


def install(apps, schema_editor):
    from trading.services.roles import groups_install

    groups_install(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("exchanges", "0002_history"),
        ("trading", "0003_order_tags_permissions_history"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
