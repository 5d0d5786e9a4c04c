"""The Celery application.

Configuration lives in Django settings under the ``CELERY_`` prefix (see
``arbsite/settings.py`` for the reasoning behind acks_late, prefetch and the
time limits). Beat reads its schedule from the database
(django-celery-beat); ``python manage.py setup`` installs it.
"""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arbsite.settings")

app = Celery("arbsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _reconcile_on_start(**kwargs):
    """Every worker reconciles with the exchanges once it is ready (trading/startup.py)."""
    from trading.startup import on_worker_ready

    on_worker_ready(**kwargs)
