"""Roles: viewer reads, operator acts, anonymous is sent to log in."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from tests.factories import make_exchange, make_market, make_order
from trading.models import RiskSettings
from trading.services.roles import ACTION_PERMISSIONS, OPERATOR, VIEWER, groups_install

pytestmark = pytest.mark.django_db


def _codenames(group: str) -> set[str]:
    return set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))


def test_the_migration_creates_both_groups():
    viewer, operator = _codenames(VIEWER), _codenames(OPERATOR)
    assert {"view_order", "view_exchange", "view_risksettings", "view_logentry",
            "view_historicalrisksettings"} <= viewer
    assert all(c.startswith("view_") for c in viewer)
    assert {codename for _, codename in ACTION_PERMISSIONS} <= operator
    assert {"change_order", "change_risksettings", "change_exchange"} <= operator
    assert not {c for c in operator if c.startswith(("add_", "delete_"))}


def test_groups_install_is_idempotent_and_keeps_hand_grants():
    extra = Permission.objects.get(codename="add_market")
    Group.objects.get(name=OPERATOR).permissions.add(extra)
    before = groups_install()
    assert groups_install() == before
    assert "add_market" in _codenames(OPERATOR)
    Group.objects.filter(name=VIEWER).delete()
    groups_install()
    assert "view_order" in _codenames(VIEWER)


ACTION_URLS = [
    ("admin:control_kill_switch", ["on"]),
    ("admin:control_kill_switch", ["off"]),
    ("admin:control_exchange", ["EX", "pause"]),
    ("admin:control_exchange", ["EX", "resume"]),
    ("admin:control_exchange", ["EX", "reset-breaker"]),
    ("admin:control_exchange", ["EX", "recover"]),
    ("admin:control_market", ["MK", "pause"]),
]


def _url(name, args):
    exchange, market = make_exchange("nobitex"), make_market("BTC", "IRR")
    args = [exchange.pk if a == "EX" else market.pk if a == "MK" else a for a in args]
    return reverse(name, args=args)


def test_anonymous_is_sent_to_login(client):
    for url in [reverse("admin:control_panel"), _url(*ACTION_URLS[0]),
                reverse("admin:trading_order_cancel")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_viewer_sees_the_panel_without_controls(viewer_client):
    make_exchange("nobitex")
    response = viewer_client.get(reverse("admin:control_panel"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Kill switch" in body and "nobitex" in body
    assert "Trip the kill switch" not in body and "Pause</a>" not in body


@pytest.mark.parametrize(("name", "args"), ACTION_URLS)
def test_viewer_cannot_act(viewer_client, name, args):
    url = _url(name, args)
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, {"reason": "try"}).status_code == 403
    assert not RiskSettings.load().kill_switch


def test_viewer_cannot_touch_orders(viewer_client):
    order = make_order()
    ids = f"?ids={order.pk}"
    assert viewer_client.get(reverse("admin:trading_order_cancel") + ids).status_code == 403
    assert viewer_client.post(reverse("admin:trading_order_cancel") + ids,
                              {"reason": "x"}).status_code == 403
    assert viewer_client.post(reverse("admin:trading_order_resync") + ids).status_code == 403
    assert viewer_client.get(
        reverse("admin:trading_order_resolve", args=[order.pk])).status_code == 403
    change = viewer_client.post(reverse("admin:trading_order_change", args=[order.pk]),
                                {"notes": "mine"})
    assert change.status_code == 403
    listing = viewer_client.get(reverse("admin:trading_order_changelist")).content.decode()
    assert "cancel_selected" not in listing and "resync_selected" not in listing
    order.refresh_from_db()
    assert order.notes == ""


def test_operator_sees_the_controls(operator_client):
    make_order()
    body = operator_client.get(reverse("admin:control_panel")).content.decode()
    assert "Trip the kill switch" in body and "Run recovery" in body
    listing = operator_client.get(reverse("admin:trading_order_changelist")).content.decode()
    assert "cancel_selected" in listing and "resync_selected" in listing


def test_the_admin_index_links_the_control_panel(operator_client):
    body = operator_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:control_panel") in body


def test_exchange_and_market_lists_show_controls_only_to_operators(viewer_client, client,
                                                                   operator):
    make_exchange("nobitex")
    make_market("BTC", "IRR")
    for url in (reverse("admin:exchanges_exchange_changelist"),
                reverse("admin:exchanges_market_changelist")):
        assert "Pause…" not in viewer_client.get(url).content.decode()
    client.force_login(operator)
    for url in (reverse("admin:exchanges_exchange_changelist"),
                reverse("admin:exchanges_market_changelist")):
        assert "Pause…" in client.get(url).content.decode()


def test_setup_repairs_the_groups_and_keeps_what_was_granted_by_hand():
    from django.core.management import call_command

    operator = Group.objects.get(name=OPERATOR)
    cancel = Permission.objects.get(codename="can_cancel_orders")
    extra = Permission.objects.get(codename="add_logentry")
    operator.permissions.remove(cancel)  # removed by mistake
    operator.permissions.add(extra)  # granted by hand
    before = {name: _codenames(name) for name in (VIEWER, OPERATOR)}

    call_command("setup", verbosity=0)

    after = {name: _codenames(name) for name in (VIEWER, OPERATOR)}
    assert before[VIEWER] <= after[VIEWER] and before[OPERATOR] <= after[OPERATOR]
    assert {"can_cancel_orders", "add_logentry"} <= after[OPERATOR]
    assert not any(c.startswith(("can_", "change_", "add_", "delete_")) for c in after[VIEWER])
