"""arbsite's admin site: Django's, with the pages apps add to it (the
trading app's control panel, ``trading.control_panel``), and the
confirmation page every control action uses.

Every action is a GET confirmation page that says what will happen, and a
POST that checks the permission, calls one service and reports with
``message_user``; the change is logged as a LogEntry on the row it touched
(and, for orders, as an OrderEvent by the service).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

logger = logging.getLogger(__name__)


class ArbsiteAdminConfig(AdminConfig):
    default_site = "arbsite.adminsite.ArbsiteAdminSite"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000,
        help_text="Recorded with the action in the audit log.",
    )

    def __init__(self, *args, required: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        if not required:
            self.fields["reason"].help_text = "Optional. " + self.fields["reason"].help_text


@dataclass
class Confirm:
    """One confirmed action: what the page says and what the POST does."""

    title: str
    question: str
    permission: str
    perform: Callable[[str], tuple[int, str]]  # reason -> (message level, message)
    back_url: str
    reason_required: bool = True
    button: str = "Yes, I'm sure"
    danger: bool = True
    details: list[str] | None = None
    log_object: Model | None = None


def confirm_view(site: admin.AdminSite, request: HttpRequest, action: Confirm,
                 extra_form: forms.Form | None = None) -> HttpResponse:
    """The shared GET (confirmation page) / POST (perform, message, log) view."""
    if not request.user.has_perm(action.permission):
        raise PermissionDenied
    bound = request.POST if request.method == "POST" else None
    form = ReasonForm(bound, required=action.reason_required)
    if request.method == "POST" and form.is_valid() and (extra_form is None
                                                          or extra_form.is_valid()):
        reason = form.cleaned_data["reason"].strip()
        try:
            level, message = action.perform(reason)
        except ValidationError as exc:
            level, message = messages.ERROR, " ".join(exc.messages)
        except Exception as exc:  # an action's failure is a message, never a 500
            logger.exception("admin action %r by %s failed", action.title, request.user)
            level, message = messages.ERROR, (
                f"{action.title}: failed with {type(exc).__name__}: {exc}. Nothing more was "
                "done; the log has the details.")
        else:
            if action.log_object is not None and level != messages.ERROR:
                model_admin = site._registry.get(type(action.log_object))
                if model_admin is not None:
                    model_admin.log_change(request, action.log_object,
                                           f"{message} Reason: {reason or '-'}")
        messages.add_message(request, level, message)
        return HttpResponseRedirect(action.back_url)
    context = {
        **site.each_context(request),
        "title": action.title,
        "action": action,
        "form": form,
        "extra_form": extra_form,
    }
    return TemplateResponse(request, "admin/control/confirm.html", context)


class ArbsiteAdminSite(admin.AdminSite):
    """Django's admin site, with pages an app adds beside its model admins
    (``pages_register``, called from the app's ``ready()``: the trading
    app's control panel)."""

    site_header = "arbsite"
    site_title = "arbsite admin"
    index_title = "Trading control"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[Callable[[admin.AdminSite], list]] = []

    def pages_register(self, pages: Callable[[admin.AdminSite], list]) -> None:
        """``pages(site)`` returns URL patterns served by this site."""
        self._pages.append(pages)

    def get_urls(self):
        return [url for pages in self._pages for url in pages(self)] + super().get_urls()
