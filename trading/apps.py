from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from django.contrib import admin
        from django.core.signals import request_started

        from trading.control_panel import admin_controls_install, control_panel_urls
        from trading.display import display_cache_clear

        # The control panel's pages in the project's admin site, and its links
        # on the exchange and market pages (exchanges never names this app).
        admin.site.pages_register(control_panel_urls)
        admin_controls_install()
        # Pages read the listings' display rules once per request.
        request_started.connect(display_cache_clear, dispatch_uid="trading.display_cache_clear")
