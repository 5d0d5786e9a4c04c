"""The walk of one order from book to report, measured: which modules of
``arbsite``, ``exchanges`` and ``trading`` it passes through, and how many
calls cross from one of those modules into another.

Not a test (it asserts nothing and is not collected); run it by name when
the structure changes, and compare with docs/ARCHITECTURE.md ("The walk of
one order"):

    ./run.sh test tests/trading/order_walk.py -s

The path: the poll task fetches the books, hands over to detection, which
writes the opportunity and enqueues its execution (Celery runs eagerly
here, in this process); execution claims it and sends both legs; the sync
task finds nothing left to do but settles; the snapshot task recomputes
the day; an operator opens the P&L report. The sandbox's own modules (the
exchanges' side of the wire) are left out.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from decimal import Decimal

import pytest

from arbsite.celery import app as celery_app
from exchanges import registry
from exchanges.models import Exchange
from trading.models import Opportunity
from trading.services.balances import balances_store

pytestmark = pytest.mark.django_db(transaction=True)

OURS = ("arbsite", "exchanges", "trading")
LEFT_OUT = ("exchanges.sandbox",)
WALLEX_RICH_BID_TOMAN = "10100000000"


def _ours(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in OURS and not module.startswith(LEFT_OUT)


class Walk:
    """A profile hook recording calls into our modules and who made them."""

    def __init__(self) -> None:
        self.modules: Counter[str] = Counter()
        self.crossings: Counter[tuple[str, str]] = Counter()  # (caller, callee) functions
        self.lock = threading.Lock()

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__")
        code = frame.f_code
        # Imports and generated dataclass methods (__init__, __eq__) are not steps.
        if not _ours(module) or code.co_name == "<module>" or code.co_filename == "<string>":
            return
        caller = frame.f_back
        while caller is not None and not _ours(caller.f_globals.get("__name__")):
            caller = caller.f_back
        with self.lock:
            self.modules[module] += 1
            if caller is not None:
                caller_module = caller.f_globals["__name__"]
                if caller_module != module:
                    self.crossings[(f"{caller_module}.{_function(caller.f_code)}",
                                    f"{module}.{_function(code)}")] += 1

    def report(self) -> str:
        by_modules: Counter[tuple[str, str]] = Counter()
        for (caller, callee), n in self.crossings.items():
            by_modules[(_module_of(caller), _module_of(callee))] += n
        trading = {k: n for k, n in self.crossings.items() if "trading." in k[0] + k[1]}
        lines = [
            f"modules: {len(self.modules)} "
            f"(trading: {sum(m.startswith('trading') for m in self.modules)})",
            f"calls crossing modules, distinct caller → callee functions: {len(self.crossings)}"
            f" (to, from or within trading: {len(trading)})",
            f"calls crossing modules, counted each time: {sum(self.crossings.values())}"
            f" (to, from or within trading: {sum(trading.values())})",
            f"module → module pairs: {len(by_modules)}", "", "modules (calls into each):"]
        lines += [f"  {m}: {n}" for m, n in sorted(self.modules.items())]
        lines += ["", "module → module (calls):"]
        lines += [f"  {a} → {b}: {n}" for (a, b), n in sorted(by_modules.items())]
        lines += ["", "function → function:"]
        lines += [f"  {a} → {b}" for a, b in sorted(self.crossings)]
        return "\n".join(lines)


def _function(code) -> str:
    """A function's qualified name; comprehensions and lambdas count as the
    function they are written in."""
    return code.co_qualname.split(".<locals>.<")[0]


def _module_of(qualified: str) -> str:
    parts = qualified.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in sys.modules:
            return ".".join(parts[:i])
    return parts[0]


def test_walk_one_order(trading_setup, client, django_user_model, settings):
    from trading.tasks import poll_orderbooks, refresh_risk_snapshot, sync_orders

    sandbox = trading_setup
    sandbox.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                     bids=[[WALLEX_RICH_BID_TOMAN, "0.5"], ["9000000000", "5"]])
    for exchange in Exchange.objects.all():
        balances_store(exchange.name, registry.get_adapter(exchange).balances())
    admin = django_user_model.objects.create_superuser("walker", password="x")
    client.force_login(admin)
    client.get("/reports/")  # warm: templates and URL resolvers loaded before the walk

    walk = Walk()
    celery_app.conf.task_always_eager = True
    threading.setprofile(walk)
    sys.setprofile(walk)
    try:
        poll_orderbooks()  # → detect_opportunities → execute_opportunity (eager)
        sync_orders()
        refresh_risk_snapshot()
        page = client.get("/reports/")
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        celery_app.conf.task_always_eager = False

    traded = Opportunity.objects.filter(realized_pnl__isnull=False)
    assert traded.count() == 1, list(Opportunity.objects.values("status", "reason"))
    assert page.status_code == 200
    assert traded.get().realized_pnl != Decimal(0)
    print("\n" + walk.report())
