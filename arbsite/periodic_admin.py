"""The periodic schedule in the admin: everyone may read it, only superusers
change it, and every change says who and why.

django-celery-beat's own admin lets anyone who can open the task list
enable, disable, toggle or run every periodic task (its actions check no
permission) and write no audit entry. Disabling "poll order books" or
"sync orders" stops trading and order tracking without the kill switch's
confirmation, so here:

- adding, changing and deleting schedule rows (periodic tasks, intervals,
  crontabs, solar and clocked schedules) is for superusers only. Operators
  stop trading with the kill switch and the pause actions, which are
  confirmed and recorded; the schedule is the system's plumbing, changed
  on a deploy, not during an incident;
- the actions (enable, disable, run now) need that same permission, go
  through a confirmation page with a reason, and write a LogEntry on each
  task with the user and the reason;
- the change forms ask for a reason too, written into their LogEntry.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from arbsite import periodic_tasks
from arbsite.adminsite import Confirm, confirm_view

REASON_HELP = "Why this change? Recorded with it in the audit log."


def _superuser(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_superuser


def audited(form: type[forms.ModelForm]) -> type[forms.ModelForm]:
    """``form`` with a required reason (not a model field)."""
    return type(f"Audited{form.__name__}", (form,), {
        "audit_reason": forms.CharField(label="Reason", max_length=1000, help_text=REASON_HELP,
                                        widget=forms.Textarea(attrs={"rows": 2, "cols": 60})),
    })


class SuperuserScheduleMixin:
    """Read for whoever may view; add, change and delete for superusers;
    a required reason on the form, written into the LogEntry."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return _superuser(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _superuser(request)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if self.has_change_permission(request, obj):
            fieldsets.append(("Audit", {"fields": ("audit_reason",)}))
        return fieldsets

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        request._audit_reason = form.cleaned_data.get("audit_reason", "").strip()
        super().save_model(request, obj, form, change)

    def _with_reason(self, request: HttpRequest, message) -> str:
        text = LogEntry(change_message=message if isinstance(message, str)
                        else json.dumps(message)).get_change_message()
        return f"{text or 'Saved.'} Reason: {getattr(request, '_audit_reason', '') or '-'}"

    def log_addition(self, request: HttpRequest, obj, message):
        return super().log_addition(request, obj, self._with_reason(request, message))

    def log_change(self, request: HttpRequest, obj, message):
        return super().log_change(request, obj, self._with_reason(request, message))


def _ids(request: HttpRequest) -> list[int]:
    try:
        return [int(p) for p in request.GET.get("ids", "").split(",") if p.strip()]
    except ValueError:
        return []


class PeriodicTaskAdmin(SuperuserScheduleMixin, beat_admin.PeriodicTaskAdmin):
    form = audited(beat_admin.PeriodicTaskForm)
    actions = ("enable_tasks", "disable_tasks", "run_tasks")

    def _to_confirm(self, op: str, queryset: QuerySet[PeriodicTask]) -> HttpResponseRedirect:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(
            f"{reverse('admin:django_celery_beat_periodictask_' + op)}?ids={ids}")

    @admin.action(description="Enable selected tasks…", permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]):
        return self._to_confirm("enable", queryset)

    @admin.action(description="Disable selected tasks…", permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]):
        return self._to_confirm("disable", queryset)

    @admin.action(description="Run selected tasks now…", permissions=["change"])
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]):
        return self._to_confirm("run", queryset)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("enable/", view(self.enable_view), name="django_celery_beat_periodictask_enable"),
            path("disable/", view(self.disable_view),
                 name="django_celery_beat_periodictask_disable"),
            path("run/", view(self.run_view), name="django_celery_beat_periodictask_run"),
        ] + super().get_urls()

    def _confirm(self, request: HttpRequest, *, title: str, question: str, button: str,
                 perform_service, danger: bool) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        rows = list(PeriodicTask.objects.filter(pk__in=_ids(request)).order_by("pk"))
        back = reverse("admin:django_celery_beat_periodictask_changelist")
        if not rows:
            self.message_user(request, "No periodic tasks selected.", messages.WARNING)
            return HttpResponseRedirect(back)

        def perform(reason: str) -> tuple[int, str]:
            done = perform_service(task_ids=[r.pk for r in rows],
                                   actor=f"admin:{request.user.get_username()}", reason=reason)
            request._audit_reason = reason
            for row, detail in done:
                self.log_change(request, row, detail)
            if not done:
                return messages.WARNING, "Nothing changed: the tasks were already so."
            return messages.SUCCESS, "; ".join(f"{row.name}: {detail}" for row, detail in done)

        return confirm_view(self.admin_site, request, Confirm(
            title=title, question=question, button=button, danger=danger, back_url=back,
            permission="django_celery_beat.change_periodictask", perform=perform,
            details=[f"{r.name} ({r.task}) — {'enabled' if r.enabled else 'disabled'}, "
                     f"{r.scheduler}" for r in rows],
        ))

    def enable_view(self, request: HttpRequest) -> HttpResponse:
        def service(**kwargs):
            return [(row, "Enabled.") for row in
                    periodic_tasks.periodic_tasks_enabled_set(enabled=True, **kwargs)]

        return self._confirm(request, title="Enable periodic tasks", button="Enable them",
                             question="Beat will schedule these tasks again.",
                             perform_service=service, danger=False)

    def disable_view(self, request: HttpRequest) -> HttpResponse:
        def service(**kwargs):
            return [(row, "Disabled.") for row in
                    periodic_tasks.periodic_tasks_enabled_set(enabled=False, **kwargs)]

        return self._confirm(
            request, title="Disable periodic tasks", button="Disable them", danger=True,
            question=("Beat will stop scheduling these tasks. Disabling polling or order sync "
                      "stops trading and order tracking; the kill switch is the way to stop "
                      "trading."),
            perform_service=service)

    def run_view(self, request: HttpRequest) -> HttpResponse:
        def service(**kwargs):
            return [(run.periodic_task, f"Run by hand (task {run.task_id}).") for run in
                    periodic_tasks.periodic_tasks_run(**kwargs)]

        return self._confirm(request, title="Run periodic tasks now", button="Run them",
                             question="Send each of these tasks to the workers once, now.",
                             perform_service=service, danger=False)


class IntervalScheduleAdmin(SuperuserScheduleMixin, beat_admin.IntervalScheduleAdmin):
    form = audited(forms.ModelForm)


class CrontabScheduleAdmin(SuperuserScheduleMixin, beat_admin.CrontabScheduleAdmin):
    form = audited(forms.ModelForm)


class SolarScheduleAdmin(SuperuserScheduleMixin, beat_admin.SolarScheduleAdmin):
    form = audited(forms.ModelForm)


class ClockedScheduleAdmin(SuperuserScheduleMixin, beat_admin.ClockedScheduleAdmin):
    form = audited(forms.ModelForm)


def register(site: admin.AdminSite) -> None:
    """Replace django-celery-beat's registrations on ``site`` with these."""
    for model, model_admin in ((PeriodicTask, PeriodicTaskAdmin),
                               (IntervalSchedule, IntervalScheduleAdmin),
                               (CrontabSchedule, CrontabScheduleAdmin),
                               (SolarSchedule, SolarScheduleAdmin),
                               (ClockedSchedule, ClockedScheduleAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
