"""Walking the admin as an attacker would: every URL it serves, the forms
its pages render, and a snapshot of everything a POST could change
(every table, this run's Redis keys, the tasks sent to the broker)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver

from arbsite.redis import redis_client


def admin_url_names(site: admin.AdminSite = admin.site) -> list[str]:
    """Every named URL of the admin site (its own and each ModelAdmin's)."""
    names: list[str] = []

    def walk(patterns) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.append(pattern.name)

    walk(site.get_urls())
    return names


class _FormParser(HTMLParser):
    """The fields of the page's main POST form, as a browser would submit
    them, plus every checkbox (checked or not) so a walker can flip it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._select_multiple = False
        self._option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {"id": a.get("id", ""), "method": a.get("method", "get").lower(),
                          "data": [], "checkboxes": {}}
            self.forms.append(self._form)
            return
        if self._form is None or "name" not in a and tag != "option":
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind == "checkbox":
                self._form["checkboxes"][a["name"]] = a.get("value") or "on"
                if "checked" in a:
                    self._form["data"].append((a["name"], a.get("value") or "on"))
            elif kind == "radio":
                if "checked" in a:
                    self._form["data"].append((a["name"], a.get("value", "")))
            else:
                self._form["data"].append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._select_multiple = a["name"], "multiple" in a
            self._form["_first_option"] = None
            self._form["_selected"] = False
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._form.get("_first_option") is None:
                self._form["_first_option"] = value
            if "selected" in a:
                self._form["data"].append((self._select, value))
                self._form["_selected"] = True
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form["data"].append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and self._form is not None:
            name, value = self._form["data"][-1]
            self._form["data"][-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._form is not None and self._select is not None:
            if not self._form["_selected"] and not self._select_multiple:
                self._form["data"].append((self._select, self._form["_first_option"] or ""))
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._form = None


def main_form(html: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(fields, checkboxes) of the page's main POST form: the first POST
    form that is not the header's log-out form. Empty if there is none."""
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        if form["method"] == "post" and form["id"] != "logout-form":
            data = [(k, v) for k, v in form["data"] if k != "csrfmiddlewaretoken"]
            return data, form["checkboxes"]
    return [], {}


LISTENER = "https://listener.attacker.invalid/"


def mutated(fields: list[tuple[str, str]], checkboxes: dict[str, str]) -> list[tuple[str, str]]:
    """The same form with what an attacker would change: every number made
    huge, every URL pointed at a listener, every checkbox flipped. Free
    text is kept (JSON fields stay valid)."""
    out: list[tuple[str, str]] = []
    present = {k for k, _ in fields}
    for name, value in fields:
        if name in checkboxes:
            continue  # flipped below
        if re.fullmatch(r"https?://\S+", value) or name.endswith("url"):
            out.append((name, LISTENER))
            continue
        if (not name.endswith(("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"))
                and not name.endswith(("-id", "id", "-exchange", "-market"))
                and re.fullmatch(r"-?\d+(\.\d+)?", value)):
            try:
                number = Decimal(value)
            except InvalidOperation:
                number = None
            if number is not None:
                out.append((name, "999999999999" if "." not in value or number > 1 else "0.5"))
                continue
        out.append((name, value))
    for name, on_value in checkboxes.items():
        if name not in present:
            out.append((name, on_value))
    return out


def _table_rows() -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {}
    for model in apps.get_models():
        if model._meta.label == "sessions.Session":
            continue  # the viewer's own session (messages), not data
        fields = [f.attname for f in model._meta.concrete_fields]
        rows[model._meta.label] = [
            tuple(map(repr, row)) for row in model._default_manager.order_by("pk")
            .values_list(*fields)
        ]
    return rows


def _redis_keys() -> dict[bytes, bytes | None]:
    client = redis_client()
    found: dict[bytes, bytes | None] = {}
    for name in client.scan_iter(f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
        name = name.encode() if isinstance(name, str) else name
        found[name] = client.dump(name)
    return found


def snapshot() -> dict[str, Any]:
    """Everything a write could touch: every table and this run's Redis keys."""
    return {"tables": _table_rows(), "redis": _redis_keys()}


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changed = [label for label in sorted(set(before["tables"]) | set(after["tables"]))
               if before["tables"].get(label) != after["tables"].get(label)]
    keys = sorted({k for k in set(before["redis"]) | set(after["redis"])
                   if before["redis"].get(k) != after["redis"].get(k)})
    return changed + [f"redis {k.decode(errors='replace')}" for k in keys]


@contextmanager
def tasks_sent() -> Iterator[list[str]]:
    """Records every task sent to the broker meanwhile (and sends none)."""
    from celery import Celery
    from celery.result import AsyncResult

    sent: list[str] = []
    original = Celery.send_task

    def record(self, name, *args, **kwargs):
        sent.append(name)
        return AsyncResult("not-sent-by-the-walk", app=self)

    Celery.send_task = record
    try:
        yield sent
    finally:
        Celery.send_task = original
