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

import inspect
import sys
import threading
from collections import Counter, defaultdict
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


GENERATORS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


class Walk:
    """A profile hook recording, stage by stage, the calls into our modules
    and the module of the nearest caller of ours."""

    def __init__(self) -> None:
        self.stage = ""
        self.modules: dict[str, Counter[str]] = defaultdict(Counter)
        # stage → (caller function, callee function) → calls
        self.crossings: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.lock = threading.Lock()

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__")
        code = frame.f_code
        # Not steps: imports, generated dataclass methods (__init__, __eq__),
        # and generators' resumptions (each next() is a "call").
        if (not _ours(module) or code.co_name == "<module>" or code.co_filename == "<string>"
                or code.co_flags & GENERATORS):
            return
        caller = frame.f_back
        while caller is not None and not _ours(caller.f_globals.get("__name__")):
            caller = caller.f_back
        with self.lock:
            self.modules[self.stage][module] += 1
            if caller is not None:
                caller_module = caller.f_globals["__name__"]
                if caller_module != module:
                    self.crossings[self.stage][(f"{caller_module}.{_function(caller.f_code)}",
                                                f"{module}.{_function(code)}")] += 1

    def report(self) -> str:
        lines = ["stage: modules (trading) | distinct calls crossing modules (to, from or "
                 "within trading) | module → module pairs within trading"]
        every_module: set[str] = set()
        every_crossing: set[tuple[str, str]] = set()
        for stage in self.modules:
            modules, crossings = self.modules[stage], self.crossings[stage]
            every_module |= set(modules)
            every_crossing |= set(crossings)
            lines.append(_summary(stage, set(modules), set(crossings)))
        lines.append(_summary("whole walk", every_module, every_crossing))
        pairs = sorted({(_module_of(a), _module_of(b)) for a, b in every_crossing
                        if a.startswith("trading.") and b.startswith("trading.")})
        lines += ["", "trading module → trading module:"]
        lines += [f"  {a} → {b}: " + ", ".join(sorted(
            f"{c.rsplit('.', 1)[-1]}→{d.rsplit('.', 1)[-1]}" for c, d in every_crossing
            if _module_of(c) == a and _module_of(d) == b)) for a, b in pairs]
        lines += ["", "modules:"] + [f"  {m}" for m in sorted(every_module)]
        return "\n".join(lines)


def _summary(stage: str, modules: set[str], crossings: set[tuple[str, str]]) -> str:
    trading_modules = {m for m in modules if m.startswith("trading.")}
    trading_crossings = {c for c in crossings if "trading." in c[0] + c[1]}
    pairs = {(_module_of(a), _module_of(b)) for a, b in crossings
             if a.startswith("trading.") and b.startswith("trading.")}
    return (f"{stage}: {len(modules)} ({len(trading_modules)}) | {len(crossings)} "
            f"({len(trading_crossings)}) | {len(pairs)}")


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
        walk.stage = "poll → detect → execute"
        poll_orderbooks()  # → detect_opportunities → execute_opportunity (eager)
        walk.stage = "sync → settle"
        sync_orders()
        walk.stage = "snapshot"
        refresh_risk_snapshot()
        walk.stage = "report page"
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
