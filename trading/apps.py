from django.apps import AppConfig


def _alert_delivery_install() -> None:
    """An alert committed asks a worker to deliver it at once: the alert
    services get the ``trading.deliver_alerts`` task's enqueue here, since
    services never import tasks or the Celery app."""
    from trading.alerts.services import delivery_request_install
    from trading.alerts.tasks import deliver_alerts

    delivery_request_install(lambda: deliver_alerts.apply_async(expires=60))


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from django.contrib import admin
        from django.core.signals import request_started

        from trading.control_panel import admin_controls_install, control_panel_urls
        from trading.display import display_cache_clear

        _alert_delivery_install()
        # The fast path's kept reads learn of every save (services/decision_cache.py).
        from trading.services.decision_cache import decision_cache_install
        decision_cache_install()
        # The control panel's pages in the project's admin site, and its links
        # on the exchange and market pages (exchanges never names this app).
        admin.site.pages_register(control_panel_urls)
        admin_controls_install()
        # Pages read the listings' display rules once per request.
        request_started.connect(display_cache_clear, dispatch_uid="trading.display_cache_clear")
        # ... and again once this process writes a name or a listing.
        from django.db.models.signals import post_save

        from exchanges.models import Exchange, ExchangeMarket, Market
        for model in (Exchange, Market, ExchangeMarket):
            post_save.connect(display_cache_clear, sender=model,
                              dispatch_uid=f"trading.display_cache_clear.{model.__name__}")
