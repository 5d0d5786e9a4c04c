import logging

from django.apps import AppConfig
from django.core import checks

logger = logging.getLogger("exchanges")


class ExchangesConfig(AppConfig):
    name = "exchanges"
    verbose_name = "Exchanges"

    def ready(self) -> None:
        from django.conf import settings

        checks.register(conformance_gate_check)
        if not getattr(settings, "ARBSITE_CONFORMANCE_REQUIRED", True):
            # Said at every start, in every process: exchanges that never
            # passed their conformance check may trade.
            logger.warning(
                "ARBSITE_CONFORMANCE_REQUIRED=false: THE CONFORMANCE GATE IS OFF. Exchanges "
                "that never passed `manage.py exchange NAME conformance` may place real "
                "orders. For a test deployment only.")


def conformance_gate_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    from django.conf import settings

    if getattr(settings, "ARBSITE_CONFORMANCE_REQUIRED", True):
        return []
    return [checks.Warning(
        "The conformance gate is off (ARBSITE_CONFORMANCE_REQUIRED=false): exchanges that "
        "never passed their conformance check may trade.",
        hint="Set ARBSITE_CONFORMANCE_REQUIRED=true outside a test deployment.",
        id="exchanges.W001")]
