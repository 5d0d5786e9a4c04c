"""Admin write guards shared by every app.

django-simple-history's "revert" page (``history_form_view``) saves on POST
after checking only that the user may *view* the history, so a read-only
account could rewrite a row to any past version, or to anything it typed
into that form. ``GuardedHistoryAdmin`` closes that:

- a revert needs the change permission on the object, exactly as the
  change form does (checked on POST, whatever the page showed);
- a model whose rows must change only through a confirmed action sets
  ``history_revert = False``: its past versions are shown without a revert
  button and a POST is refused for everyone, superusers included. A revert restores the
  whole row, including fields the change form never offers (the kill
  switch; an exchange's base URL and the credentials bound to its host),
  so it would bypass the confirmation those fields require.
"""

from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin


class GuardedHistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose reverts need the change permission, or are off."""

    #: False: past versions are shown, never restored.
    history_revert: bool = True

    def revert_disabled(self, request: HttpRequest, obj=None) -> bool:
        return (not self.history_revert or not self.has_change_permission(request, obj)
                or super().revert_disabled(request, obj))

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str,
                          extra_context: dict | None = None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if request.method == "POST" and (obj is None or self.revert_disabled(request, obj)):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
