"""What the sandbox holds against what the database recorded: the
invariants of the chaos and end-to-end tests."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import connection

from exchanges.states import OrderState
from trading.models import Order, Trade

SANDBOX_STATUS = {"open": {OrderState.OPEN, OrderState.PARTIALLY_FILLED},
                  "filled": {OrderState.FILLED},
                  "canceled": {OrderState.CANCELLED, OrderState.EXPIRED}}
# Sandbox currency names of IRR markets: (spelling of an asset, quote, rial
# per quote unit).
CURRENCIES = {"nobitex": (str.lower, "rls", 1), "wallex": (str.upper, "TMN", 10),
              "invex": (str.upper, "IRR", 1)}


def sandbox_balances(sandbox) -> dict[tuple[str, str], Decimal]:
    state = sandbox.state()["exchanges"]
    return {(name, currency): Decimal(row["total"])
            for name in CURRENCIES
            for currency, row in state[name]["accounts"][0]["balances"].items()}


def expected_moves() -> dict[tuple[str, str], Decimal]:
    """What the recorded Trades say the balances did, in sandbox units."""
    moves: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for trade in Trade.objects.select_related("exchange", "market"):
        spell, quote, rial_per_unit = CURRENCIES[trade.exchange.name]
        base = spell(trade.market.base)
        name = trade.exchange.name
        if trade.side == "buy":
            moves[name, quote] -= trade.quote_amount / rial_per_unit
            moves[name, base] += trade.quantity - trade.fee
        else:
            moves[name, base] -= trade.quantity
            moves[name, quote] += (trade.quote_amount - trade.fee) / rial_per_unit
    return moves


def check_sandbox_agrees(sandbox, before: dict) -> int:
    """The invariants; returns how many orders were checked."""
    state = sandbox.state()["exchanges"]
    checked = 0
    for name in CURRENCIES:
        orders = state[name]["orders"]
        counters = state[name]["counters"]
        assert counters["duplicate_client_ids"] == 0, name
        assert counters["orders_placed"] == len(orders), name
        client_ids = [o["client_order_id"] for o in orders]
        assert len(client_ids) == len(set(client_ids)), f"{name}: an order sent twice"
        for remote in orders:
            local = Order.objects.get(exchange__name=name,
                                      client_order_id=remote["client_order_id"])
            assert local.status in SANDBOX_STATUS[remote["status"]], (name, remote, local)
            assert local.filled_quantity == Decimal(remote["filled"]), (name, remote, local)
            recorded = sum((t.quantity for t in local.trades.all()), Decimal(0))
            assert recorded == Decimal(remote["filled"]), (name, remote)
            checked += 1
    assert not Order.objects.filter(
        status__in=[OrderState.PENDING_SUBMIT, OrderState.UNKNOWN]).exists()
    after = sandbox_balances(sandbox)
    moves = expected_moves()
    for account, total in after.items():
        moved, expected = total - before[account], moves.get(account, Decimal(0))
        if connection.vendor == "sqlite":
            # SQLite keeps 15 significant digits of a decimal (Django's
            # converter); PostgreSQL, where CI runs, must agree exactly.
            assert abs(moved - expected) <= max(abs(total), 1) * Decimal("1e-14"), (
                account, moved, expected)
        else:
            assert moved == expected, (account, moved, expected)
    return checked
