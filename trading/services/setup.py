"""Bring a database to a working configuration; safe to run any number of
times (``python manage.py setup``, after ``migrate``).

It creates what is missing and never overwrites what an operator changed
in the admin: the periodic schedule, the exchanges and markets named in
the environment, the risk settings row, and the viewer and operator groups.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from arbsite.settings_schema import LEDGER_TOLERANCE_ABS, MAX_EXPOSURE
from exchanges.catalog import EXCHANGES, default_listing
from exchanges.models import Exchange, ExchangeMarket, Market
from trading.alerts.envchannels import alerts_install
from trading.models import MonitorSettings, RiskSettings
from trading.reports.rollups import report_rollups_backfill
from trading.schedule import PERIODIC_TASKS, PeriodicSpec
from trading.services.roles import groups_install

logger = logging.getLogger(__name__)


class SetupError(Exception):
    """The environment asks for something setup cannot create."""


@dataclass
class SetupReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # said, not fatal


def _install_periodic(spec: PeriodicSpec, *, reset: bool, report: SetupReport) -> None:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=spec.every_seconds, period=IntervalSchedule.SECONDS
    )
    wanted = {
        "task": spec.task,
        "interval": interval,
        "expire_seconds": spec.expires_seconds,
        "description": spec.description,
    }
    task, created = PeriodicTask.objects.get_or_create(name=spec.name, defaults=wanted)
    if created:
        report.created.append(f"periodic task {spec.name} (every {spec.every_seconds}s)")
    elif reset and any(getattr(task, k) != v for k, v in wanted.items()):
        for attr, value in wanted.items():
            setattr(task, attr, value)
        task.enabled = True
        task.save()
        report.updated.append(f"periodic task {spec.name} (reset to every {spec.every_seconds}s)")
    else:
        report.unchanged.append(f"periodic task {spec.name}")


def schedule_install(*, reset: bool = False, report: SetupReport | None = None) -> SetupReport:
    """Install PERIODIC_TASKS; with ``reset`` restore edited entries too."""
    report = report or SetupReport()
    with transaction.atomic():
        for spec in PERIODIC_TASKS:
            _install_periodic(spec, reset=reset, report=report)
    return report


def _parse_market(code: str) -> tuple[str, str]:
    base, _, quote = code.upper().partition("-")
    if not base or not quote:
        raise SetupError(f"ARBSITE_MARKETS: {code!r} is not a market like BTC-IRR")
    return base, quote


def exchanges_install(
    *, names: list[str], market_codes: list[str], report: SetupReport | None = None
) -> SetupReport:
    """Create the named exchanges, the markets and their listings if missing."""
    report = report or SetupReport()
    unknown = [name for name in names if name not in EXCHANGES]
    if unknown:
        raise SetupError(
            f"ARBSITE_EXCHANGES: unknown exchange(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(EXCHANGES))}"
        )
    pairs = [_parse_market(code) for code in market_codes]
    with transaction.atomic():
        markets = []
        for base, quote in pairs:
            market, created = Market.objects.get_or_create(base=base, quote=quote)
            (report.created if created else report.unchanged).append(f"market {market.code}")
            markets.append(market)
        for name in names:
            defaults = EXCHANGES[name]
            exchange, created = Exchange.objects.get_or_create(
                name=name,
                defaults={
                    "adapter": defaults.adapter,
                    "taker_fee": defaults.taker_fee,
                    "maker_fee": defaults.maker_fee,
                },
            )
            (report.created if created else report.unchanged).append(f"exchange {name}")
            for market in markets:
                listing = default_listing(exchange.adapter, market.base, market.quote)
                _, created = ExchangeMarket.objects.get_or_create(
                    exchange=exchange,
                    market=market,
                    defaults={
                        "symbol": listing.symbol,
                        "price_scale": listing.price_scale,
                        "amount_step": listing.amount_step,
                        "price_tick": listing.price_tick,
                        "min_order_value": listing.min_order_value,
                    },
                )
                if created:
                    report.created.append(f"listing {name}:{listing.symbol} ({market.code})")
    return report


def exchanges_use_sandbox(*, base_url_of: Callable[[str], str],
                          credentials: Mapping[str, str]) -> int:
    """Point every exchange row at a sandbox with its demo credentials.

    ``base_url_of(adapter)`` gives the sandbox's base URL for that exchange;
    ``credentials`` are named as in the environment (NOBITEX_API_TOKEN …).
    For tests and benches; an operator configures exchanges in the admin or
    the environment. Returns how many rows were changed.
    """
    changed = 0
    for exchange in Exchange.objects.all():
        names = EXCHANGES[exchange.adapter]
        exchange.base_url = base_url_of(exchange.adapter)
        exchange.api_key = credentials.get(names.api_key_env, "")
        exchange.api_secret = (credentials.get(names.api_secret_env, "")
                               if names.api_secret_env else "")
        exchange.save()
        changed += 1
    return changed


def exchange_rules_read(*, report: SetupReport) -> SetupReport:
    """Each exchange's published rules and fees onto its rows
    (``exchanges.services.rules``); what cannot be read is reported, not fatal."""
    from exchanges.services.rules import exchange_rules_sync

    for rules in exchange_rules_sync():
        report.updated.extend(rules.lines())
        report.problems.extend(f"{rules.exchange}: {problem}" for problem in rules.problems)
    return report


def settings_check(*, report: SetupReport) -> SetupReport:
    """The JSON settings already stored, against their schema
    (``arbsite.settings_schema``): a row written before the admin checked
    it is reported, naming the field, for an operator to fix in the admin
    (setup never rewrites an operator's value)."""
    rows = ((RiskSettings.load(), "risk settings", MAX_EXPOSURE),
            (MonitorSettings.load(), "monitor settings", LEDGER_TOLERANCE_ABS))
    for row, label, schema in rows:
        for problem in schema.errors(getattr(row, schema.setting)):
            report.problems.append(f"{label} {schema.setting}: {problem}")
    return report


def setup_run(*, reset_schedule: bool = False, read_rules: bool = True) -> SetupReport:
    """Everything ``manage.py setup`` does, in order."""
    report = SetupReport()
    schedule_install(reset=reset_schedule, report=report)
    exchanges_install(
        names=settings.ARBSITE_EXCHANGES, market_codes=settings.ARBSITE_MARKETS, report=report
    )
    if read_rules:
        exchange_rules_read(report=report)
    _, created = RiskSettings.objects.get_or_create(id=RiskSettings.SINGLETON_ID)
    (report.created if created else report.unchanged).append("risk settings")
    settings_check(report=report)
    # The viewer and operator groups come with a migration; setup repairs
    # them (adding only) if permissions were removed or new actions added.
    for group, count in groups_install().items():
        report.unchanged.append(f"group {group} ({count} permissions)")
    alerts_install(specs=settings.ALERT_CHANNELS, report=report)
    # Report rollups of closed days that have none (a deployment upgraded
    # from before rollups existed); nothing to do on later runs.
    written = report_rollups_backfill()
    if written:
        report.created.append(f"report rollups for {written} closed days")
    logger.info("setup: %d created, %d updated, %d unchanged",
                len(report.created), len(report.updated), len(report.unchanged))
    return report
