"""``python manage.py seed_demo [--trades N] [--days D] [--reset]``: a demo history."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from trading.services.demo import demo_seed


class Command(BaseCommand):
    help = ("Fill the database with a realistic trading history (opportunities, orders, "
            "fills, closed daily snapshots) over the days before today, so the reports have "
            "something to show. Adds and enables no market (missing ones are created "
            "disabled), leaves today's figures alone, and refuses (exit 1, nothing written) "
            "while the system is trading: stop it or turn the kill switch on first.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--trades", type=int, default=5000, help="fills (default 5000)")
        parser.add_argument("--days", type=int, default=365,
                            help="spread over this many trading days before today (default 365)")
        parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        parser.add_argument("--reset", action="store_true",
                            help="remove earlier demo rows first (other rows are kept)")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            report = demo_seed(trades=options["trades"], days=options["days"],
                               seed=options["seed"], reset=options["reset"],
                               progress=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"seeded {report.trades:,} fills, {report.orders:,} orders and "
            f"{report.opportunities:,} opportunities from {report.first_day} to "
            f"{report.last_day}, {report.snapshots} closed snapshots, in "
            f"{time.monotonic() - started:.1f} s. Reports: /reports/"))
