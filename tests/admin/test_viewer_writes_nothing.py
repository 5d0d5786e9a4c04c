"""A viewer changes nothing, anywhere in the admin.

The walk takes every URL the admin serves (each ModelAdmin's changelist,
add, change, delete, history and history-revert pages, their custom URLs,
the control panel's actions and the site's own pages), has a superuser GET
it to learn the form a browser would submit, and POSTs that form as a
viewer twice: as rendered, and with what an attacker would change (numbers
made huge, URLs pointed at a listener, checkboxes flipped). Changelists also
get every action the superuser sees, with every row selected. After each
POST no table and none of this run's Redis keys may differ, no task may
have been sent, and the answer is a refusal (403, or a redirect that saved
nothing), never a page that saved.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    PeriodicTask,
    SolarSchedule,
)

from exchanges.models import ConformanceRun, Exchange, ExchangeMarket, Market
from tests.admin.conftest import make_user
from tests.admin.walk import admin_url_names, differences, main_form, mutated, snapshot, tasks_sent
from tests.factories import make_opportunity, make_order, make_trade
from trading.alerts.models import Alert
from trading.capital.models import LedgerCheck
from trading.models import (
    DailyRiskSnapshot,
    OpportunityRollup,
    Order,
    OrderEvent,
    PairProtection,
    ReportDay,
    RiskSettings,
    TradeRollup,
)
from trading.services.risk import kill_switch_set
from trading.services.roles import VIEWER
from trading.services.setup import setup_run

pytestmark = pytest.mark.django_db

# Views that answer a POST with a page and write nothing by design: the
# snapshot still proves they wrote nothing.
PAGE_VIEWS = {"index", "app_list", "control_panel", "password_change_done",
              "password_change"}  # the viewer's own password: without the old one, nothing saves
# Not walked, with why.
SKIPPED = {
    "login": "authenticates; its throttling has its own tests (test_login_limit.py)",
    "logout": "ends the viewer's own session, which is all it may do",
}
ACTION_REASON = "a viewer was here"


def _populate() -> None:
    """At least one row of every model the admin shows, and history to revert to."""
    setup_run(read_rules=False)
    nobitex = Exchange.objects.get(name="nobitex")
    nobitex.api_key, nobitex.api_secret = "nobitex-token-secret", ""
    nobitex.save()
    nobitex.taker_fee = Decimal("0.003")
    nobitex.save()  # a second history row: an older one to revert to
    wallex = Exchange.objects.get(name="wallex")
    btc = Market.objects.get(base="BTC", quote="IRR")
    btc.enabled = False
    btc.save()
    btc.enabled = True
    btc.save()
    ConformanceRun.objects.create(exchange=nobitex, started_at=timezone.now(),
                                  finished_at=timezone.now(), base_url="https://apiv2.nobitex.ir",
                                  result="failed", rows=[{"point": "p", "assumed": "a",
                                                          "answered": "b", "verdict": "FAIL"}])
    listing = ExchangeMarket.objects.filter(exchange=nobitex, market=btc).first()
    listing.min_order_value = Decimal("1000")
    listing.save()

    risk = RiskSettings.load()
    risk.max_daily_loss_irr = Decimal("50000000")
    risk.save()
    kill_switch_set(active=True, reason="operator stopped trading", actor="admin:olga")

    opportunity = make_opportunity(market=btc, buy=nobitex, sell=wallex, quantity=Decimal("0.01"),
                                   buy_price=Decimal("100"), sell_price=Decimal("110"))
    order = make_order(exchange=nobitex, market=btc, opportunity=opportunity, status="unknown")
    OrderEvent.objects.create(order=order, from_status="pending_submit", to_status="unknown",
                              source="test")
    make_trade(order=order)
    DailyRiskSnapshot.objects.create(day=date.today())
    PairProtection.objects.create(market=btc, buy_exchange=nobitex, sell_exchange=wallex,
                                  reason="3 unwound", started_at=timezone.now(),
                                  until=timezone.now() + timedelta(hours=1))
    day = date.today() - timedelta(days=1)
    ReportDay.objects.create(day=day, timezone="Asia/Tehran")
    OpportunityRollup.objects.create(day=day, market=btc, buy_exchange=nobitex,
                                     sell_exchange=wallex, status="done", quote_asset="IRR",
                                     count=1, wins=1, realized_pnl=1, best=1, worst=1)
    TradeRollup.objects.create(day=day, market=btc, fee_asset="IRR", count=1, volume=1,
                               quantity=1, fee=0, fee_times_price=0)
    CrontabSchedule.objects.create(minute="0", hour="*")
    SolarSchedule.objects.create(event="sunrise", latitude=35.7, longitude=51.4)
    ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1))
    boss = make_user("boss", superuser=True)
    LogEntry.objects.log_actions(user_id=boss.pk, queryset=[nobitex], action_flag=CHANGE,
                                 change_message="seeded")
    Group.objects.get_or_create(name="spare")
    _populate_alerts_and_capital(nobitex)
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    AccessAttempt.objects.create(username="olga", ip_address="203.0.113.7", user_agent="ua",
                                 get_data="", post_data="", http_accept="", path_info="/",
                                 failures_since_start=5)
    AccessLog.objects.create(username="olga", ip_address="203.0.113.7", user_agent="ua",
                             http_accept="", path_info="/")
    AccessFailureLog.objects.create(username="olga", ip_address="203.0.113.7",
                                    user_agent="ua", http_accept="", path_info="/")


def _populate_alerts_and_capital(exchange: Exchange) -> None:
    """Alerts with a channel, its message and delivery, the monitor settings, a
    capital budget, a transfer and a ledger check (the issue-15 admins)."""
    from trading.alerts.models import AlertChannel, MonitorSettings
    from trading.alerts.services import alert_raise
    from trading.capital.models import CapitalBudget, LedgerCheck, Transfer

    MonitorSettings.load()
    channel = AlertChannel.objects.create(name="ops-hook", kind="webhook",
                                          target="https://hooks.example.com/arbsite",
                                          secret="a-webhook-secret-16+")
    channel.min_severity = "info"
    channel.save()  # a second history row
    alert_raise(kind="breaker_open", title="Circuit breaker of nobitex open",
                subject="nobitex", exchange=exchange)
    budget = CapitalBudget.objects.create(exchange=exchange, max_value_irr=Decimal("10"))
    budget.max_value_irr = Decimal("20")
    budget.save()
    Transfer.objects.create(kind="deposit", to_exchange=exchange, asset="IRR",
                            amount=Decimal("1000"), state="pending")
    now = timezone.now()
    LedgerCheck.objects.create(exchange=exchange, asset="IRR", checked_at=now, cut_at=now,
                               status="mismatch", expected=Decimal("1"), actual=Decimal("2"),
                               difference=Decimal("1"))


def _standard(name: str):
    """(model admin, kind) for a ModelAdmin's standard URL name, else None."""
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix):
            kind = name[len(prefix):]
            if kind in ("changelist", "add", "change", "delete", "history", "simple_history"):
                return model_admin, kind
    return None


def _first(model_admin, superuser):
    request = RequestFactory().get("/")
    request.user = superuser
    return model_admin.get_queryset(request).order_by("pk").first()


def _order(superuser) -> Order:
    return _first(admin.site._registry[Order], superuser)


def _exchange_pk() -> int:
    return Exchange.objects.get(name="nobitex").pk


# URL name -> the concrete URLs to POST to (besides each ModelAdmin's standard ones).
CUSTOM_CASES = {
    "index": lambda su: [reverse("admin:index")],
    "password_change": lambda su: [reverse("admin:password_change")],
    "password_change_done": lambda su: [reverse("admin:password_change_done")],
    "autocomplete": lambda su: [reverse("admin:autocomplete") + "?app_label=exchanges&"
                                "model_name=exchangemarket&field_name=market&term=B"],
    "jsi18n": lambda su: [reverse("admin:jsi18n")],
    "view_on_site": lambda su: [reverse("admin:view_on_site", args=[
        ContentType.objects.get_for_model(Order).pk, _order(su).pk])],
    "app_list": lambda su: [reverse("admin:app_list", args=[label]) for label in
                            sorted({m._meta.app_label for m in admin.site._registry})],
    "control_panel": lambda su: [reverse("admin:control_panel")],
    "control_kill_switch": lambda su: [reverse("admin:control_kill_switch", args=[t])
                                       for t in ("on", "off")],
    "control_exchange": lambda su: [reverse("admin:control_exchange", args=[_exchange_pk(), op])
                                    for op in ("pause", "resume", "disable", "enable",
                                               "reset-breaker", "recover")],
    "control_market": lambda su: [
        reverse("admin:control_market", args=[Market.objects.get(base="BTC", quote="IRR").pk,
                                              op]) for op in ("pause", "resume")],
    "trading_order_cancel": lambda su: [reverse("admin:trading_order_cancel")
                                        + f"?ids={_order(su).pk}"],
    "trading_order_resync": lambda su: [reverse("admin:trading_order_resync")
                                        + f"?ids={_order(su).pk}"],
    "trading_order_checked": lambda su: [reverse("admin:trading_order_checked")
                                         + f"?ids={_order(su).pk}"],
    "trading_order_resolve": lambda su: [reverse("admin:trading_order_resolve",
                                                 args=[_order(su).pk])],
    **{f"django_celery_beat_periodictask_{op}": (
        lambda su, op=op: [reverse(f"admin:django_celery_beat_periodictask_{op}") + "?ids="
                           + ",".join(str(t.pk) for t in PeriodicTask.objects.all())])
       for op in ("enable", "disable", "run")},
    "exchanges_exchange_base_url": lambda su: [
        reverse("admin:exchanges_exchange_base_url", args=[_exchange_pk()])],
    "exchanges_exchange_conformance_override": lambda su: [
        reverse("admin:exchanges_exchange_conformance_override", args=[_exchange_pk(), op])
        for op in ("set", "clear")],
    "auth_user_password_change": lambda su: [reverse("admin:auth_user_password_change",
                                                     args=[su.pk])],
    **{f"trading_alert_{op}": (
        lambda su, op=op: [reverse(f"admin:trading_alert_{op}") + "?ids=" + ",".join(
            str(pk) for pk in Alert.objects.values_list("pk", flat=True))])
       for op in ("acknowledge", "resolve")},
    "trading_pairprotection_end": lambda su: [reverse(
        "admin:trading_pairprotection_end",
        args=[PairProtection.objects.order_by("pk").first().pk])],
    "trading_ledgercheck_accept": lambda su: [reverse(
        "admin:trading_ledgercheck_accept", args=[LedgerCheck.objects.order_by("pk").first().pk])],
}


def _targets(name: str, superuser) -> list[str]:
    """The concrete URLs to POST to for one URL name."""
    standard = _standard(name)
    if standard is None:
        return CUSTOM_CASES[name](superuser)
    model_admin, kind = standard
    if kind in ("changelist", "add"):
        return [reverse(f"admin:{name}")]
    obj = _first(model_admin, superuser)
    assert obj is not None, f"no {model_admin.model.__name__} row to walk {name}"
    if kind != "simple_history":
        return [reverse(f"admin:{name}", args=[obj.pk])]
    return [reverse(f"admin:{name}", args=[obj.pk, version.history_id])
            for version in obj.history.all()]


def _payloads(name: str, url: str, boss_client: Client, superuser) -> list[list[tuple[str, str]]]:
    """What to POST: the superuser's form as rendered and as an attacker
    would change it, plus every action on a changelist."""
    page = boss_client.get(url)
    fields, checkboxes = main_form(page.content.decode()) if page.status_code == 200 else ([], {})
    reason = [("reason", ACTION_REASON)]
    payloads = [fields + reason, mutated(fields, checkboxes) + reason]
    standard = _standard(name)
    if standard is not None and standard[1] == "changelist":
        model_admin = standard[0]
        request = RequestFactory().get(url)
        request.user = superuser
        pks = [str(pk) for pk in model_admin.get_queryset(request).values_list("pk", flat=True)]
        for action in model_admin.get_actions(request):
            payloads.append([("action", action), ("index", "0"), ("post", "yes"),
                             *(("_selected_action", pk) for pk in pks), *reason])
        payloads.append(fields + [("_save", "Save")])
    return payloads


def _as_post(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def _allowed_answer(name: str, status: int) -> bool:
    if status in (302, 403, 404, 405):  # 404: app_list of an app the viewer cannot see
        return True
    standard = _standard(name)
    read_only_page = name in PAGE_VIEWS or standard and standard[1] in ("changelist", "history")
    return bool(read_only_page) and status == 200


def test_every_admin_url_has_a_case():
    """A new admin URL fails here until the walk below knows how to reach it."""
    names = set(admin_url_names())
    unknown = {n for n in names if _standard(n) is None} - CUSTOM_CASES.keys() - SKIPPED.keys()
    assert not unknown, f"admin URLs with no case in the walk (add them to CUSTOM_CASES): {unknown}"


def _walk(poster: Client, names, superuser, boss_client: Client, capture):
    """POST every payload of every URL of ``names`` as ``poster``; return
    (number of POSTs, answers that were not refusals, POSTs that wrote)."""
    walked, wrong_answer, wrote = 0, [], []
    for name in names:
        for url in _targets(name, superuser):
            for payload in _payloads(name, url, boss_client, superuser):
                before = snapshot()
                with tasks_sent() as sent, capture(execute=True):
                    response = poster.post(url, _as_post(payload))
                changed = differences(before, snapshot()) + [f"task {t}" for t in sent]
                walked += 1
                if changed:
                    wrote.append(f"{name} {url} -> {response.status_code}: {', '.join(changed)}")
                elif not _allowed_answer(name, response.status_code):
                    wrong_answer.append(f"{name} {url} -> {response.status_code}")
                if response.status_code == 302:
                    assert not response["Location"].startswith(reverse("admin:login")), (
                        f"{name}: the poster's session ended during the walk")
    return walked, wrong_answer, wrote


def _clients(client: Client):
    _populate()
    superuser = make_user("root", superuser=True)
    boss_client = Client()
    boss_client.force_login(superuser)
    return superuser, boss_client


def test_a_viewer_writes_nothing_anywhere(client, django_capture_on_commit_callbacks):
    # Given every kind of row, a superuser to learn the forms and a viewer.
    superuser, boss_client = _clients(client)
    client.force_login(make_user("victor", group=VIEWER))
    assert RiskSettings.load().kill_switch

    # When the viewer POSTs to every admin URL.
    walked, wrong_answer, wrote = _walk(client, sorted(set(admin_url_names()) - SKIPPED.keys()),
                                        superuser, boss_client,
                                        django_capture_on_commit_callbacks)

    # Then nothing changed, and every write URL refused.
    assert walked > 200
    assert not wrote, f"a viewer changed data in {len(wrote)} POSTs:\n" + "\n".join(wrote)
    assert not wrong_answer, "unexpected answers:\n" + "\n".join(wrong_answer)
    row = RiskSettings.load()
    assert row.kill_switch and row.max_daily_loss_irr == Decimal("50000000")
    assert not Exchange.objects.filter(base_url__contains="attacker").exists()


def test_the_walk_writes_when_allowed(client, django_capture_on_commit_callbacks):
    """The same walk as a superuser does write: its forms are ones a
    browser would submit, so the viewer's clean result above means refusal."""
    superuser, boss_client = _clients(client)
    names = ["trading_risksettings_change", "exchanges_market_simple_history",
             "exchanges_exchangemarket_change", "django_celery_beat_periodictask_disable",
             "control_kill_switch",
             "django_celery_beat_periodictask_changelist"]  # last: its bulk delete empties it
    _, _, wrote = _walk(boss_client, names, superuser, boss_client,
                        django_capture_on_commit_callbacks)
    assert {line.split()[0] for line in wrote} == set(names), "\n".join(wrote)
