# Which source (stream or poll) each book of a decision came from.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('trading', '0017_order_needs_human_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='opportunity',
            name='buy_book_source',
            field=models.CharField(blank=True, default='', max_length=8),
        ),
        migrations.AddField(
            model_name='opportunity',
            name='sell_book_source',
            field=models.CharField(blank=True, default='', max_length=8),
        ),
    ]
