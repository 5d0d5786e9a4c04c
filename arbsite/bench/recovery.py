"""Recovery benchmark for ``manage.py bench``: 10,000 non-terminal orders
spread over the three exchanges of a sandbox with its rate limits on,
recovered from a cold start, within the sandbox's published limits.

The orders are written to the database inside a transaction that is rolled
back at the end (the operator's data is never touched), under exchange
rows of their own; the sandbox holds them as resting orders, a few of which
fill "while the system is down" (the book moves through them), and some of
which the database still has as ``pending_submit`` or ``unknown``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from arbsite.bench.registry import BenchOptions, Figure, bench

ORDERS = 10_000
FILLED_SHARE = 0.01  # filled while down: their fills must be recorded
PENDING_SHARE = 0.10  # left pending_submit (sent, answer never stored)
UNKNOWN_SHARE = 0.05
KINDS = ("nobitex", "wallex", "invex")
SYMBOLS = {"nobitex": "BTCIRT", "wallex": "BTCTMN", "invex": "BTC_IRR"}
TOMAN = {"nobitex": 1, "wallex": 10, "invex": 1}  # rial per price unit
AMOUNT = Decimal("0.00004")
RESTING = Decimal("90000000000")  # rial: rests below the static book
FILLING = Decimal("95000000000")  # rial: filled when the book drops to 94e9
BALANCES = {"nobitex": {"rls": Decimal("1e13"), "btc": Decimal("10")},
            "wallex": {"TMN": Decimal("1e12"), "BTC": Decimal("10")},
            "invex": {"IRR": Decimal("1e13"), "BTC": Decimal("10")}}
# The sandbox's published limits (WIRE.md), 10% under, per endpoint class.
SANDBOX_LIMITS = {
    "nobitex": {"status": (270, 60), "open_orders": (27, 60), "fills": (27, 60)},
    "wallex": {"status": (270, 60), "open_orders": (54, 60), "fills": (54, 60)},
    "invex": {"status": (270, 60), "open_orders": (54, 60), "fills": (54, 60)},
}


class _Rollback(Exception):
    pass


def _seed(server, accounts, exchanges, market) -> dict[str, int]:
    """The orders, on the sandbox and in the database; returns counts by state."""
    from exchanges.client_ids import new_client_order_id
    from exchanges.states import OrderState
    from trading.models import Order

    rows, counts = [], {"open": 0, "pending_submit": 0, "unknown": 0, "filled_while_down": 0}
    per_kind = ORDERS // len(KINDS)
    for index, kind in enumerate(KINDS):
        engine = server.world.engines[kind]
        exchange = exchanges[kind]
        total = per_kind + (ORDERS - per_kind * len(KINDS) if index == 0 else 0)
        for n in range(total):
            share = n / total
            fills = share < FILLED_SHARE
            price = (FILLING if fills else RESTING) / TOMAN[kind]
            client_id = new_client_order_id(exchange_kind=kind, purpose="entry")
            placed = engine.place(accounts[kind], symbol=SYMBOLS[kind], side="buy", kind="limit",
                                  amount=AMOUNT, price=price, client_id=client_id)
            exchange_id = {"nobitex": str(placed.id), "wallex": client_id,
                           "invex": placed.uuid}[kind]
            if share < FILLED_SHARE + PENDING_SHARE and not fills:
                status, exchange_id = OrderState.PENDING_SUBMIT, None
            elif share < FILLED_SHARE + PENDING_SHARE + UNKNOWN_SHARE and not fills:
                status, exchange_id = OrderState.UNKNOWN, None
            else:
                status = OrderState.OPEN
            counts["filled_while_down" if fills else status] += 1
            rows.append(Order(exchange=exchange, market=market, client_order_id=client_id,
                              exchange_order_id=exchange_id, side="buy", quantity=AMOUNT,
                              price=FILLING if fills else RESTING, status=status))
    Order.objects.bulk_create(rows, batch_size=1000)
    # While the system is down, the market falls through the higher bids.
    for kind in KINDS:
        server.set_book(kind, SYMBOLS[kind], asks=[[str(Decimal("94000000000") / TOMAN[kind]),
                                                    "100"]],
                        bids=[[str(Decimal("85000000000") / TOMAN[kind]), "100"]])
    return counts


@bench("recovery")
def recovery_cold_start(options: BenchOptions) -> list[Figure]:
    """10,000 non-terminal orders over three exchanges recovered from a cold start."""
    from django.conf import settings
    from django.db import transaction

    from exchanges import registry
    from exchanges.catalog import default_listing
    from exchanges.models import Exchange, ExchangeMarket, Market
    from exchanges.sandbox import SandboxServer
    from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file
    from exchanges.states import LIVE_STATES
    from trading.models import Order, Trade
    from trading.services.recovery import orders_recover

    creds = ensure_credentials_file(Path(tempfile.mkdtemp()) / "sandbox.env")
    accounts = [dataclasses.replace(a, balances=BALANCES[a.exchange])
                for a in demo_accounts(creds)]
    keys = {"nobitex": (creds["NOBITEX_API_TOKEN"], ""), "wallex": (creds["WALLEX_API_KEY"], ""),
            "invex": (creds["INVEX_API_KEY"], creds["INVEX_PRIVATE_KEY"])}
    server = SandboxServer(port=0, scenario="static", accounts=accounts, rate_limits=True,
                           seed=1).start()
    run = uuid.uuid4().hex[:6]
    saved_limits = getattr(settings, "EXCHANGE_RATE_LIMITS", {})
    figures: list[Figure] = []
    try:
        settings.EXCHANGE_RATE_LIMITS = {f"{kind}": limits
                                         for kind, limits in SANDBOX_LIMITS.items()}
        with transaction.atomic():
            market, _ = Market.objects.get_or_create(base="BTC", quote="IRR")
            exchanges = {}
            for kind in KINDS:
                exchange = Exchange.objects.create(
                    name=f"bench-{kind}-{run}", adapter=kind, base_url=server.base_url(kind),
                    api_key=keys[kind][0], api_secret=keys[kind][1])
                d = default_listing(kind, "BTC", "IRR")
                ExchangeMarket.objects.create(
                    exchange=exchange, market=market, symbol=d.symbol, price_scale=d.price_scale,
                    amount_step=d.amount_step, price_tick=d.price_tick,
                    min_order_value=d.min_order_value)
                exchanges[kind] = exchange
            counts = _seed(server, {k: keys[k][0] for k in KINDS}, exchanges, market)
            registry.clear_cache()

            started = time.perf_counter()
            report = orders_recover(exchange_names=[e.name for e in exchanges.values()],
                                    wait_grace=False)
            elapsed = time.perf_counter() - started

            state = server.state()["exchanges"]
            rate_limited = sum(state[k]["counters"]["rate_limited"] for k in KINDS)
            requests = sum(state[k]["counters"]["requests"] for k in KINDS)
            left = Order.objects.filter(exchange__in=exchanges.values(),
                                        status__in=["pending_submit", "unknown"]).count()
            wrong = _mismatches(state, exchanges, LIVE_STATES)
            fills = Trade.objects.filter(exchange__in=exchanges.values()).count()
            calls = sum(r.calls for r in report.exchanges)
            context = (f"{ORDERS} orders ({counts['open']} open, {counts['pending_submit']} "
                       f"pending, {counts['unknown']} unknown, {counts['filled_while_down']} "
                       "filled while down), sandbox limits on")
            figures = [
                Figure("recovery", "10,000 orders recovered", elapsed, "s", context,
                       goal="< 60"),
                Figure("recovery", "exchange calls", calls, "calls", context),
                Figure("recovery", "requests served by the sandbox", requests, "requests",
                       context),
                Figure("recovery", "429 from the sandbox", rate_limited, "responses", context,
                       goal="0"),
                Figure("recovery", "fills recorded", fills, "trades", context,
                       goal=str(counts["filled_while_down"])),
                Figure("recovery", "left pending or unknown", left, "orders", context,
                       goal="0"),
                Figure("recovery", "state mismatches with the sandbox", wrong, "orders",
                       context, goal="0"),
            ]
            raise _Rollback
    except _Rollback:
        pass
    finally:
        settings.EXCHANGE_RATE_LIMITS = saved_limits
        registry.clear_cache()
        server.stop()
    return figures


def _mismatches(state, exchanges, live_states) -> int:
    from trading.models import Order

    status_map = {"open": {"open", "partially_filled"}, "filled": {"filled"},
                  "canceled": {"cancelled", "expired"}}
    wrong = 0
    for kind, exchange in exchanges.items():
        local = dict(Order.objects.filter(exchange=exchange)
                     .values_list("client_order_id", "status"))
        for remote in state[kind]["orders"]:
            if local.get(remote["client_order_id"]) not in status_map[remote["status"]]:
                wrong += 1
    return wrong
