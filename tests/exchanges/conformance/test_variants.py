"""The conformance command against the sandbox in every variant: it finds
which reading the sandbox speaks, fails the check while the configured
reading differs, stores the observed one with ``--apply``, and the
adapters trading uses then work against that variant."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchanges.client_ids import new_client_order_id
from exchanges.models import ConformanceRun, Exchange
from exchanges.registry import clear_cache, get_adapter
from exchanges.sandbox.variants import DEFAULTS, VARIANTS
from exchanges.states import OrderState
from exchanges.types import OrderRequest, OrderType, Side
from tests.exchanges.conformance.conftest import conformance

# Points a single test order cannot show (WIRE.md, "Variants"): reported as not probed.
NOT_PROBED = {"nobitex-duplicate-order", "wallex-partial-status"}
# Shown only by an account with more than 100 orders: its own test below.
NEEDS_MANY_ORDERS = {"nobitex-page-size"}

CASES = [(name.split("-", 1)[0], name, value)
         for name, values in VARIANTS.items() for value in values[1:]
         if name not in NOT_PROBED | NEEDS_MANY_ORDERS]


def run_json(kind: str, *args: str) -> tuple[int, dict]:
    code, out, err = conformance(kind, "--place-test-order", "--yes", "--json", *args)
    return code, json.loads(out)


def row(report: dict, point: str) -> dict:
    return next(r for r in report["points"] if r["point"] == point)


def trade_once(kind: str) -> None:
    """What trading does with the row's adapter: place (a strict client id),
    read, cancel, read. Raises if any step fails."""
    clear_cache()
    adapter = get_adapter(Exchange.objects.get(name=kind))
    book = adapter.get_order_book("BTC-IRR")
    price = (book.best_bid.price * Decimal("0.9")).quantize(Decimal("10"))
    client_id = new_client_order_id(exchange_kind=kind, purpose="entry")
    placed = adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT,
                                              Decimal("0.0001"), client_id, price))
    assert placed.state is OrderState.OPEN
    seen = adapter.get_order(exchange_order_id=placed.exchange_order_id, market="BTC-IRR")
    assert seen.client_order_id in (client_id, None) and seen.state is OrderState.OPEN
    adapter.cancel_order(exchange_order_id=placed.exchange_order_id, client_order_id=client_id,
                         market="BTC-IRR")
    for _ in range(50):
        seen = adapter.get_order(exchange_order_id=placed.exchange_order_id, market="BTC-IRR")
        if seen.state is OrderState.CANCELLED:
            return
    raise AssertionError(f"{kind}: the order was not cancelled: {seen}")


@pytest.mark.parametrize("kind", ["nobitex", "wallex", "invex"])
def test_the_defaults_pass_and_the_test_order_is_cancelled(configured, kind):
    code, report = run_json(kind)
    assert code == 0, [r for r in report["points"] if r["verdict"] in ("FAIL", "error", "open")]
    assert report["passed"]
    for name, value in report["observed_variants"].items():
        assert value == DEFAULTS[name], name
    assert report["test_order"]["sent"] and report["test_order"]["closed"]
    orders = configured.state()["exchanges"][kind]["orders"]
    assert [o["status"] for o in orders] == ["canceled"], orders  # one order, never left open
    exchange = Exchange.objects.get(name=kind)
    assert exchange.conformance_state == "passed"
    assert ConformanceRun.objects.get(exchange=exchange).result == "passed"


@pytest.mark.parametrize("kind,name,value", CASES, ids=[f"{n}={v}" for _, n, v in CASES])
def test_the_check_finds_the_variant_and_apply_stores_it(configured, kind, name, value):
    configured.set_variants({name: value})
    code, report = run_json(kind)
    assert report["observed_variants"].get(name) == value, row(report, name)
    from exchanges.variants import VARIANTS as ADAPTER_VARIANTS

    used = ADAPTER_VARIANTS[name].used
    if used:  # the configured default is wrong for this exchange: the check fails
        assert code == 1 and row(report, name)["verdict"] == "FAIL"
        assert Exchange.objects.get(name=kind).conformance_state == "failed"
    else:  # read either way: nothing fails
        assert code == 0 and row(report, name)["verdict"] == "pass"
    assert report["test_order"]["closed"]

    code, report = run_json(kind, "--apply")
    assert code == 0, [r for r in report["points"] if r["verdict"] in ("FAIL", "error", "open")]
    exchange = Exchange.objects.get(name=kind)
    assert exchange.wire_variants[name] == value
    assert exchange.conformance_state == "passed"
    last = exchange.history.first()
    assert last.history_change_reason.startswith("conformance check passed")
    if used:
        assert row(report, name)["verdict"] == "applied"
        assert f"{name}={value}" in last.history_change_reason
    trade_once(kind)  # the adapter trading uses speaks the stored variant


def test_the_nobitex_page_size_cap_shows_with_more_than_a_hundred_orders(configured):
    configured.set_variants({"nobitex-page-size": "1000"})
    clear_cache()
    adapter = get_adapter(Exchange.objects.get(name="nobitex"))
    for _ in range(101):
        adapter.place_order(OrderRequest("BTC-IRR", Side.BUY, OrderType.LIMIT, Decimal("0.0001"),
                                         new_client_order_id(exchange_kind="nobitex",
                                                             purpose="test"),
                                         Decimal("90000000000")))
    code, out, err = conformance("nobitex", "--json", "--apply")
    report = json.loads(out)
    assert report["observed_variants"]["nobitex-page-size"] == "1000"
    assert Exchange.objects.get(name="nobitex").wire_variants["nobitex-page-size"] == "1000"

    configured.set_variants({"nobitex-page-size": "100"})
    code, out, err = conformance("nobitex", "--json")
    report = json.loads(out)
    assert report["observed_variants"]["nobitex-page-size"] == "100"
    assert code == 1  # 1000 stored, 100 served: the check says so


def test_points_a_check_cannot_probe_are_said_and_do_not_fail_it(configured):
    code, out, err = conformance("nobitex")
    assert code == 0
    assert "nobitex-duplicate-order" in out and "pro=yes" in out
    code, out, err = conformance("wallex")
    assert code == 0 and "wallex-partial-status" in out and "not probed" in out


def test_a_point_trading_depends_on_left_unsettled_fails_the_check(configured):
    """Invex's create-order names show only when an order is placed: a read-only
    check cannot pass it, and says what would settle it."""
    code, out, err = conformance("invex", "--json")
    report = json.loads(out)
    assert code == 1 and not report["passed"]
    fields = row(report, "invex-order-fields")
    assert fields["verdict"] == "open" and "--place-test-order" in fields["answered"]
    assert Exchange.objects.get(name="invex").conformance_failed.startswith(
        "invex-order-fields")
    # The points the adapter reads either way do not fail a read-only check
    code, out, err = conformance("wallex", "--json")
    report = json.loads(out)
    assert code == 0
    assert row(report, "wallex-client-id")["verdict"] == "either"
    assert row(report, "wallex-balance-value")["verdict"] == "either"


def test_the_admin_shows_the_last_check_and_every_run_read_only(configured, client):
    from django.urls import reverse

    from tests.admin.conftest import make_user

    conformance("invex")
    client.force_login(make_user("boss", superuser=True))
    invex = Exchange.objects.get(name="invex")
    page = client.get(reverse("admin:exchanges_exchange_change", args=[invex.pk])).content.decode()
    assert "not needed: the project&#x27;s sandbox" in page  # on the sandbox: no gate
    assert "invex-signing" in page and "accepted signing official" in page
    run = ConformanceRun.objects.get(exchange=invex)
    url = reverse("admin:exchanges_conformancerun_change", args=[run.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"result": "passed"}).status_code == 403
    assert client.get(reverse("admin:exchanges_conformancerun_add")).status_code == 403
