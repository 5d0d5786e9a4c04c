"""``python manage.py exchange NAME book|balances|open-orders|status|conformance …``

An operator's probe of one exchange, through the same adapter code the
workers use: it proves the base URL, the credentials and the units. Prices
are shown in project units (rial for IRR markets), every figure exactly as
the exchange gave it with thousands separators, times in trading-day time
(``arbsite.formatting``). Errors are printed
plainly — which exchange, what it answered, which address was tried — with
a non-zero exit code.

``conformance [--place-test-order] [--apply] [--json] [--yes] [--market M]``
runs the live conformance check (``exchanges.conformance``): it prints the
table of points, records the result on the Exchange row (which the trading
gate reads), and exits 1 when an assumption failed, 3 when its test order
could not be confirmed cancelled. A test order needs ``--place-test-order``
and the exchange's name typed at the prompt (or ``--yes``).

The probe runs in probe mode (``registry.probe_adapter``): it neither counts
towards nor is stopped by the shared circuit breaker (checking whether an
exchange is back is its job), and it spends its own small rate budget, not
the one trading needs. An open breaker or a back-off in force is said on
stderr.
"""

from __future__ import annotations

import getpass
import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from arbsite.formatting import moment, number, percent, unit
from exchanges.breaker import CLOSED, breaker_state
from exchanges.errors import ExchangeError
from exchanges.interface import ExchangeAdapter
from exchanges.models import Exchange
from exchanges.ratelimit import backoff_state
from exchanges.registry import probe_adapter
from exchanges.types import ExchangeOrder


class Command(BaseCommand):
    help = "Probe one exchange: its order book, balances, open orders or one order's status."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="the exchange's name, e.g. nobitex")
        sub = parser.add_subparsers(dest="action", required=True)
        book = sub.add_parser("book", help="the order book of BASE-QUOTE")
        book.add_argument("market", help="canonical market, e.g. BTC-IRR")
        book.add_argument("--depth", type=int, default=10, help="levels a side (default 10)")
        sub.add_parser("balances", help="balances (IRR in rial)")
        orders = sub.add_parser("open-orders", help="open orders")
        orders.add_argument("market", nargs="?", help="only this market")
        status = sub.add_parser("status", help="one order by client order id")
        status.add_argument("client_order_id")
        status.add_argument("--exchange-id", action="store_true",
                            help="the id given is the exchange's order id")
        status.add_argument("--market", help="the order's market, where known")
        check = sub.add_parser("conformance", help="the live conformance check (before trading)")
        check.add_argument("--place-test-order", action="store_true",
                           help="place one order of the minimum size that cannot fill, read "
                                "it back, list it and cancel it")
        check.add_argument("--apply", action="store_true",
                           help="store the wire variants observed on the exchange row")
        check.add_argument("--json", action="store_true", help="print the report as JSON")
        check.add_argument("--yes", action="store_true",
                           help="do not ask before placing the test order (scripts)")
        check.add_argument("--market", help="the test order's market (default: one the "
                                            "account can pay for)")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            exchange = Exchange.objects.get(name=name)
        except Exchange.DoesNotExist:
            known = ", ".join(Exchange.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no exchange named {name!r} (configured: {known})") from None
        action = options["action"]
        if action == "conformance":
            self._shared_state(exchange.name)
            self._conformance(exchange, options)
            return
        try:
            adapter = probe_adapter(exchange)
        except ExchangeError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}", returncode=2) from None
        self._shared_state(exchange.name)
        try:
            if action == "book":
                self._book(adapter, options["market"], options["depth"])
            elif action == "balances":
                self._balances(adapter)
            elif action == "open-orders":
                self._orders(adapter.open_orders(options.get("market")))
            elif action == "status":
                ref = options["client_order_id"]
                kwargs = {"exchange_order_id": ref} if options["exchange_id"] else {
                    "client_order_id": ref}
                self._orders([adapter.get_order(market=options.get("market"), **kwargs)])
        except ExchangeError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}", returncode=2) from None
        except ValueError as exc:  # a market not configured, a malformed argument
            raise CommandError(f"{name}: {exc}") from None
        finally:
            adapter.close()

    def _conformance(self, exchange: Exchange, options: dict[str, Any]) -> None:
        from exchanges.conformance.report import render_table
        from exchanges.conformance.runner import NotConfirmed, conformance_run
        from exchanges.conformance.store import conformance_record

        def confirm(plan) -> bool:
            self.stderr.write(f"The test order on {exchange.name}: {plan.describe()}. It "
                              "cannot fill and is cancelled at once.")
            if options["yes"]:
                return True
            try:
                typed = input(f"Type {exchange.name} to place it: ")
            except EOFError:
                return False
            return typed.strip() == exchange.name

        try:
            report = conformance_run(
                exchange=exchange, place_test_order=options["place_test_order"],
                apply=options["apply"], confirm=confirm, market=options.get("market"),
                observer=lambda step: self.stderr.write(f"... {step}"))
        except NotConfirmed:
            raise CommandError("the test order was not confirmed: nothing was placed and "
                               "nothing recorded") from None
        except ValueError as exc:  # a market not configured
            raise CommandError(f"{exchange.name}: {exc}") from None
        actor = f"manage.py exchange {exchange.name} conformance, by {getpass.getuser()}"
        conformance_record(exchange_id=exchange.pk, report=report, actor=actor)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(render_table(report))
        if report.left_open:
            loud = next((row.answered for row in report.rows
                         if row.point == "test order closed" and row.verdict == "FAIL"),
                        f"TEST ORDER MAY BE LEFT OPEN on {exchange.name}: "
                        f"{report.test_order.ids() if report.test_order else '?'}")
            raise CommandError(loud, returncode=3)
        if not report.passed:
            failed = "; ".join(row.point for row in report.failed)
            raise CommandError(f"{exchange.name}: conformance failed ({failed})", returncode=1)

    def _shared_state(self, name: str) -> None:
        """What trading meets on this exchange now (the probe itself ignores it)."""
        try:
            breaker = breaker_state(name)
            backoff = backoff_state(name)
        except Exception as exc:  # Redis down: the probe still works
            self.stderr.write(f"note: shared breaker and rate-limit state unreadable ({exc})")
            return
        if breaker.state != CLOSED:
            scope = "private calls" if breaker.scope == "private" else "all calls"
            self.stderr.write(f"note: {name}'s shared breaker is {breaker.state} for {scope} "
                              f"({breaker.reason or breaker.last_error or 'no reason'}); "
                              "this probe does not use it")
        if backoff.active:
            self.stderr.write(f"note: {name} asked for a back-off, {backoff.remaining:.0f}s "
                              f"left ({backoff.reason or 'no reason given'}); this probe "
                              "waits it out too")

    def _book(self, adapter: ExchangeAdapter, market: str, depth: int) -> None:
        book = adapter.get_order_book(market)
        spec = adapter.spec(market)
        base, quote = book.market.split("-")
        self.stdout.write(
            f"{adapter.name} {book.market} ({spec.symbol}), prices in {spec.quote}"
            f"{' (rial)' if spec.quote == 'IRR' else ''}, amounts in {base}"
        )
        stamp = moment(book.exchange_time, millis=True) if book.exchange_time else "not given"
        self.stdout.write(f"received {moment(book.received_at, millis=True)}, "
                          f"exchange time {stamp}")
        width = 24
        self.stdout.write(f"{'bid amount':>{width}} {'bid price':>{width}} | "
                          f"{'ask price':<{width}} {'ask amount':<{width}}")
        for i in range(max(min(depth, len(book.bids)), min(depth, len(book.asks)))):
            bid = book.bids[i] if i < len(book.bids) else None
            ask = book.asks[i] if i < len(book.asks) else None
            left = (f"{number(bid.amount):>{width}} {number(bid.price):>{width}}"
                    if bid else " " * (2 * width + 1))
            right = (f"{number(ask.price):<{width}} {number(ask.amount):<{width}}"
                     if ask else "")
            self.stdout.write(f"{left} | {right}".rstrip())
        if book.best_bid and book.best_ask:
            spread = book.best_ask.price - book.best_bid.price
            self.stdout.write(f"spread {number(spread)} {unit(quote)} "
                              f"({percent(spread / book.best_ask.price * 100, 3)})")

    def _balances(self, adapter: ExchangeAdapter) -> None:
        balances = adapter.balances()
        self.stdout.write(f"{adapter.name} balances (IRR in rial)")
        self.stdout.write(f"{'asset':<8} {'total':>28} {'available':>28} {'locked':>28}")
        for asset in sorted(balances):
            b = balances[asset]
            self.stdout.write(f"{asset:<8} {number(b.total):>28} "
                              f"{number(b.available):>28} {number(b.locked):>28}")

    def _orders(self, orders: list[ExchangeOrder]) -> None:
        if not orders:
            self.stdout.write("no orders")
            return
        self.stdout.write("prices in the market's quote (rial for IRR), quantities in its base")
        self.stdout.write(
            f"{'client order id':<34} {'exchange id':<38} {'market':<9} {'side':<4} "
            f"{'type':<6} {'state':<16} {'price':>20} {'quantity':>14} "
            f"{'filled':>14} raw"
        )
        for o in orders:
            self.stdout.write(
                f"{o.client_order_id or '-':<34} {o.exchange_order_id or '-':<38} "
                f"{o.market:<9} {o.side or '-':<4} {o.type or '-':<6} {o.state.value:<16} "
                f"{number(o.price) if o.price is not None else '-':>20} "
                f"{number(o.quantity) if o.quantity is not None else '-':>14} "
                f"{number(o.filled_quantity):>14} {o.raw_status}"
            )
