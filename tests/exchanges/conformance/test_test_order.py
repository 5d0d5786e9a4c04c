"""The test order is never left open: cancelled in a ``finally`` when a step
in the middle fails (the sandbox's faults), said loudly with its ids when
even that cannot be confirmed; and nothing is placed without ``--place-test-order``
and a typed confirmation."""

from __future__ import annotations

import json
import threading
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from exchanges.conformance import testorder
from exchanges.models import ConformanceRun, Exchange
from tests.exchanges.conformance.conftest import conformance

KINDS = ["nobitex", "wallex", "invex"]


def orders_of(sandbox, kind: str) -> list[dict]:
    return sandbox.state()["exchanges"][kind]["orders"]


def fault_at(sandbox, kind: str, step: str, spec: str, *, clear_after: float | None):
    """An observer: at the step whose name starts with ``step``, set the fault;
    lift it ``clear_after`` seconds later (never: None)."""
    def observer(name: str) -> None:
        if name.startswith(step):
            sandbox.set_faults(f"{kind}:{spec}", replace=True)
            if clear_after is not None:
                threading.Timer(clear_after, sandbox.clear_faults).start()
    return observer


def run_with(observer, kind: str, *args: str) -> tuple[int, str, str]:
    from exchanges.conformance import runner

    real = runner.conformance_run

    def wrapped(**kwargs):
        return real(**{**kwargs, "observer": lambda s: (kwargs["observer"](s), observer(s))})

    with mock.patch.object(runner, "conformance_run", wrapped):
        return conformance(kind, "--place-test-order", "--yes", "--json", *args)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failure_in_the_middle_still_cancels_the_test_order(configured, kind):
    # Given the exchange answers 503 to everything once the order is placed, for a second
    observer = fault_at(configured, kind, "reading the test order back", "down=1",
                        clear_after=1.0)
    code, out, err = run_with(observer, kind)
    report = json.loads(out)
    # Then the step that failed says so, the check fails, and the order was cancelled
    assert code == 1
    verdicts = {r["point"]: r["verdict"] for r in report["points"]}
    assert verdicts["read back by exchange order id"] == "error"
    assert verdicts["test order closed"] == "pass"
    assert [o["status"] for o in orders_of(configured, kind)] == ["canceled"]
    assert not report["test_order_left_open"]
    assert Exchange.objects.get(name=kind).conformance_state == "failed"


@pytest.mark.parametrize("kind", KINDS)
def test_a_lost_place_answer_is_found_and_cancelled(configured, kind):
    observer = fault_at(configured, kind, "placing the test order", "lost_answer=1.0",
                        clear_after=None)
    code, out, err = run_with(observer, kind)
    report = json.loads(out)
    assert code == 1
    assert report["test_order"]["closed"] and not report["test_order_left_open"]
    statuses = [o["status"] for o in orders_of(configured, kind)]
    assert statuses and set(statuses) == {"canceled"}, statuses


def test_a_cancel_that_cannot_be_confirmed_is_loud_with_the_ids(configured, monkeypatch):
    monkeypatch.setattr(testorder, "CLEANUP_PATIENCE", 1.5)
    observer = fault_at(configured, "wallex", "cancelling the test order", "down=1",
                        clear_after=None)
    code, out, err = run_with(observer, "wallex")
    report = json.loads(out)
    assert code == 3
    client_id = report["test_order"]["client_order_id"]
    assert report["test_order_left_open"]
    assert "TEST ORDER MAY BE LEFT OPEN on wallex" in err and client_id in err
    run = ConformanceRun.objects.get(exchange__name="wallex")
    assert run.result == "failed" and client_id in run.failed
    # (the order is still open on the sandbox: an operator cancels it by hand)
    configured.clear_faults()
    assert [o["status"] for o in orders_of(configured, "wallex")] == ["open"]
    call_command("exchange", "wallex", "status", client_id, stdout=StringIO())


def test_nothing_is_placed_without_the_typed_confirmation(configured, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="not confirmed: nothing was placed"):
        call_command("exchange", "nobitex", "conformance", "--place-test-order",
                     stdout=StringIO(), stderr=StringIO())
    assert orders_of(configured, "nobitex") == []
    assert not ConformanceRun.objects.exists()  # nothing recorded either

    monkeypatch.setattr("builtins.input", lambda prompt: "nobitex")
    err = StringIO()
    call_command("exchange", "nobitex", "conformance", "--place-test-order",
                 stdout=StringIO(), stderr=err)
    assert "The test order on nobitex: buy" in err.getvalue()
    assert [o["status"] for o in orders_of(configured, "nobitex")] == ["canceled"]


def test_without_place_test_order_nothing_is_placed(configured):
    for kind in KINDS:
        conformance(kind)
        assert orders_of(configured, kind) == []


def test_the_test_order_cannot_fill_and_is_within_the_band(configured):
    code, out, err = conformance("invex", "--place-test-order", "--yes", "--json")
    order = json.loads(out)["test_order"]
    book = configured.state()["exchanges"]["invex"]["books"]["BTC_IRR"]
    bid, ask = float(book["best_bid"]), float(book["best_ask"])
    price = float(order["price"])
    assert price < bid * 0.9 and price > (bid + ask) / 2 * 0.7
