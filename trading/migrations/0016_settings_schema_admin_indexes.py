"""JSON settings checked by their schema (arbsite/settings_schema.py); the
indexes of the admin's large lists (issue 10 items 5 and 14).

Not atomic: on PostgreSQL the indexes are built CONCURRENTLY, so the order
and trade tables keep taking writes while they build.
"""

import arbsite.settings_schema
from arbsite.migration_ops import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('admin', '0003_logentry_add_action_flag_choices'),
        ('exchanges', '0005_conformance_rules_key_entered'),
        ('trading', '0015_order_needs_human_error_kinds'),
    ]

    operations = [
        migrations.AlterField(
            model_name='historicalmonitorsettings',
            name='ledger_tolerance_abs',
            field=models.JSONField(blank=True, default=dict, help_text='Absolute tolerance per asset, e.g. {"IRR": "10", "BTC": "0.00000001"}; the larger of the two applies.', validators=[arbsite.settings_schema.validate_ledger_tolerance_abs]),
        ),
        migrations.AlterField(
            model_name='historicalrisksettings',
            name='max_exposure',
            field=models.JSONField(blank=True, default=dict, help_text='Maximum open exposure per asset, e.g. {"BTC": "0.05", "ETH": "1"}: upper-case assets, amounts as strings with a decimal point ("0" opens nothing more).', validators=[arbsite.settings_schema.validate_max_exposure]),
        ),
        migrations.AlterField(
            model_name='monitorsettings',
            name='ledger_tolerance_abs',
            field=models.JSONField(blank=True, default=dict, help_text='Absolute tolerance per asset, e.g. {"IRR": "10", "BTC": "0.00000001"}; the larger of the two applies.', validators=[arbsite.settings_schema.validate_ledger_tolerance_abs]),
        ),
        migrations.AlterField(
            model_name='risksettings',
            name='max_exposure',
            field=models.JSONField(blank=True, default=dict, help_text='Maximum open exposure per asset, e.g. {"BTC": "0.05", "ETH": "1"}: upper-case assets, amounts as strings with a decimal point ("0" opens nothing more).', validators=[arbsite.settings_schema.validate_max_exposure]),
        ),
        AddIndexConcurrently(
            model_name='opportunity',
            index=models.Index(fields=['market', 'created_at'], name='opportunity_market_created'),
        ),
        AddIndexConcurrently(
            model_name='order',
            index=models.Index(fields=['created_at', 'id'], name='order_created_id'),
        ),
        AddIndexConcurrently(
            model_name='order',
            index=models.Index(fields=['status', 'created_at', 'id'], name='order_status_created'),
        ),
        AddIndexConcurrently(
            model_name='order',
            index=models.Index(fields=['exchange', 'created_at', 'id'], name='order_exchange_created'),
        ),
        AddIndexConcurrently(
            model_name='order',
            index=models.Index(fields=['market', 'created_at', 'id'], name='order_market_created'),
        ),
        AddIndexConcurrently(
            model_name='order',
            index=models.Index(fields=['purpose', 'created_at', 'id'], name='order_purpose_created'),
        ),
        AddIndexConcurrently(
            model_name='order',
            index=models.Index(condition=models.Q(('is_external', True)), fields=['created_at', 'id'], name='order_external_created'),
        ),
        AddIndexConcurrently(
            model_name='orderevent',
            index=models.Index(fields=['to_status', 'created_at'], name='orderevent_to_created'),
        ),
        AddIndexConcurrently(
            model_name='trade',
            index=models.Index(fields=['exchange', 'executed_at'], name='trade_exchange_executed_at'),
        ),
        # The audit list (django_admin_log), newest first: Django's LogEntry
        # has no index on its time. Outside its app, so raw SQL (both engines).
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS trading_logentry_time ON django_admin_log "
            "(action_time, id)",
            "DROP INDEX IF EXISTS trading_logentry_time",
        ),
    ]
