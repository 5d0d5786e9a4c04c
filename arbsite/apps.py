"""arbsite as a Django app: project-wide admin registrations
(``arbsite/admin.py``) and signal receivers that belong to no one app."""

from django.apps import AppConfig


class ArbsiteConfig(AppConfig):
    name = "arbsite"
    verbose_name = "arbsite"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from arbsite.login_throttle import login_success_clear

        user_logged_in.connect(login_success_clear, dispatch_uid="arbsite.login_success_clear")
