"""The periodic schedule: viewers and operators read it, only superusers
change it, and each change (action or form) is confirmed and audited."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from arbsite.redis import redis_client
from tests.admin.conftest import make_user
from tests.admin.walk import main_form
from trading.services.setup import schedule_install

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_celery_beat_periodictask_changelist"


@pytest.fixture
def queue():
    """A queue of this test's own on the real broker, so that a task sent
    by hand lands where no worker of anyone else takes it."""
    name = f"test-run-now-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client().delete(name)


@pytest.fixture
def tasks(db, queue):
    schedule_install()
    PeriodicTask.objects.update(queue=queue)
    return list(PeriodicTask.objects.order_by("pk"))


@pytest.fixture
def boss_client(db):
    client = Client()
    client.force_login(make_user("boss", superuser=True))
    return client


def _action(client, name: str, tasks):
    return client.post(reverse(CHANGELIST), {"action": name, "index": "0", "post": "yes",
                                             "_selected_action": [t.pk for t in tasks]})


def _enabled() -> dict[str, bool]:
    return dict(PeriodicTask.objects.values_list("name", "enabled"))


def _logs(obj) -> list[LogEntry]:
    return list(LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)))


@pytest.mark.parametrize("who", ["viewer", "operator"])
@pytest.mark.parametrize("action", ["enable_tasks", "disable_tasks", "toggle_tasks",
                                    "run_tasks"])
def test_viewers_and_operators_cannot_run_the_actions(request, who, action, tasks, queue):
    client = request.getfixturevalue(f"{who}_client")
    before = _enabled()
    assert client.get(reverse(CHANGELIST)).status_code == 200  # they read it
    response = _action(client, action, tasks)
    assert response.status_code in (200, 302)  # the list again: no action for them
    assert _enabled() == before
    assert redis_client().llen(queue) == 0
    assert not LogEntry.objects.exists()
    for op in ("enable", "disable", "run"):
        url = reverse(f"admin:django_celery_beat_periodictask_{op}") + f"?ids={tasks[0].pk}"
        assert client.post(url, {"reason": "try"}).status_code == 403


def test_operators_cannot_edit_the_schedule(operator_client, tasks):
    task = tasks[0]
    page = operator_client.get(reverse("admin:django_celery_beat_periodictask_change",
                                       args=[task.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    fields = dict(main_form(page.content.decode())[0])
    fields.update({"name": task.name, "task": task.task, "enabled": "", "args": "[]",
                   "kwargs": "{}", "interval": task.interval_id, "audit_reason": "x"})
    for url in (reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]),
                reverse("admin:django_celery_beat_periodictask_delete", args=[task.pk]),
                reverse("admin:django_celery_beat_periodictask_add"),
                reverse("admin:django_celery_beat_intervalschedule_add"),
                reverse("admin:django_celery_beat_crontabschedule_add")):
        assert operator_client.post(url, {**fields, "post": "yes"}).status_code == 403, url
    assert PeriodicTask.objects.get(pk=task.pk).enabled


def test_a_superuser_disables_with_a_confirmation_and_a_reason(boss_client, tasks):
    poll = next(t for t in tasks if t.task == "trading.poll_orderbooks")

    # The action leads to a confirmation page; nothing has changed yet.
    response = _action(boss_client, "disable_tasks", [poll])
    assert response.status_code == 302
    page = boss_client.get(response["Location"])
    assert page.status_code == 200 and "poll order books" in page.content.decode()
    assert PeriodicTask.objects.get(pk=poll.pk).enabled

    # Without a reason it is refused.
    assert boss_client.post(response["Location"], {"reason": " "}).status_code == 200
    assert PeriodicTask.objects.get(pk=poll.pk).enabled

    # With one, it is done and audited with who and why.
    boss_client.post(response["Location"], {"reason": "deploying a new poller"})
    assert not PeriodicTask.objects.get(pk=poll.pk).enabled
    (log,) = _logs(poll)
    assert log.user.username == "boss"
    assert "Disabled." in log.get_change_message()
    assert "deploying a new poller" in log.get_change_message()

    # Enabling it again is audited the same way.
    url = reverse("admin:django_celery_beat_periodictask_enable") + f"?ids={poll.pk}"
    boss_client.post(url, {"reason": "poller deployed"})
    assert PeriodicTask.objects.get(pk=poll.pk).enabled
    assert any("poller deployed" in e.get_change_message() for e in _logs(poll))


def test_a_superuser_runs_a_task_now_on_the_broker(boss_client, tasks, queue):
    heartbeat = next(t for t in tasks if t.task == "trading.heartbeat")
    url = reverse("admin:django_celery_beat_periodictask_run") + f"?ids={heartbeat.pk}"
    boss_client.post(url, {"reason": "check the workers"})
    assert redis_client().llen(queue) == 1  # one message on the real broker
    (log,) = _logs(heartbeat)
    assert "Run by hand" in log.get_change_message()
    assert "check the workers" in log.get_change_message()


INLINE = {"periodictask_set-TOTAL_FORMS": "0", "periodictask_set-INITIAL_FORMS": "0"}


def test_schedule_forms_ask_for_a_reason_and_record_it(boss_client):
    add = reverse("admin:django_celery_beat_intervalschedule_add")
    refused = boss_client.post(add, {"every": "5", "period": "seconds", **INLINE})
    assert refused.status_code == 200 and not IntervalSchedule.objects.exists()
    assert "audit_reason" in refused.context["adminform"].form.errors
    done = boss_client.post(add, {"every": "5", "period": "seconds", **INLINE,
                                  "audit_reason": "a faster sync"})
    assert done.status_code == 302
    (log,) = _logs(IntervalSchedule.objects.get())
    assert log.user.username == "boss" and "a faster sync" in log.get_change_message()

    crontab = CrontabSchedule.objects.create(minute="0")
    change = reverse("admin:django_celery_beat_crontabschedule_change", args=[crontab.pk])
    boss_client.post(change, {"minute": "5", "hour": "*", "day_of_month": "*",
                              "month_of_year": "*", "day_of_week": "*", "timezone": "UTC",
                              "audit_reason": "off the hour", **INLINE})
    assert CrontabSchedule.objects.get(pk=crontab.pk).minute == "5"
    assert "off the hour" in _logs(crontab)[-1].get_change_message()
