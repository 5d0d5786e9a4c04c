"""``python manage.py run_sandbox``: the offline exchange sandbox, until Ctrl-C or SIGTERM.

Needs no database, so it can start before migrations. ``--state FILE`` keeps orders,
fills, balances and id counters across restarts; ``--variant NAME=VALUE`` picks a reading
of a point the exchanges' docs leave open (exchanges/sandbox/variants.py, WIRE.md).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from exchanges.sandbox import SandboxServer
from exchanges.sandbox.books import SCENARIOS
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file
from exchanges.sandbox.faults import parse_spec
from exchanges.sandbox.markets import EXCHANGES
from exchanges.sandbox.state import StateError
from exchanges.sandbox.streams.faults import STREAM_EXCHANGES, parse_stream_spec
from exchanges.sandbox.variants import VARIANTS, parse_assignments


class Command(BaseCommand):
    help = "Serve the offline exchange sandbox (Nobitex, Wallex and Invex wire formats)."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8800)
        parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
        parser.add_argument("--faults", default=None,
                            help="e.g. nobitex:latency=50,wallex:error5xx=0.2,all:timeout=0.01")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--credentials", default="var/sandbox.env",
                            help="env file with the demo API keys (created when missing)")
        parser.add_argument("--no-rate-limit", action="store_true",
                            help="serve without enforcing rate limits")
        parser.add_argument("--stream-port", type=int, default=None,
                            help="port of the websockets (default: --port + 1; -1: none)")
        parser.add_argument("--stream-faults", default=None,
                            help="e.g. nobitex:silence=1,wallex:duplicate=0.1 (WIRE.md)")
        parser.add_argument("--stream-ping", type=float, default=25.0,
                            help="seconds between Nobitex's {} pings (and the pong timeout)")
        parser.add_argument("--state", default=None, metavar="FILE",
                            help="keep orders, fills, balances and id counters in FILE "
                                 "across restarts (e.g. var/sandbox-state.json)")
        parser.add_argument(
            "--variant", action="append", default=[], metavar="NAME=VALUE",
            help="a reading of a point the docs leave open, repeatable; "
                 + "; ".join(f"{k}={'|'.join(v)}" for k, v in VARIANTS.items()))

    def handle(self, *args, **options) -> None:
        try:
            parse_spec(options["faults"])
            parse_stream_spec(options["stream_faults"])
            variants = parse_assignments(options["variant"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        stream_port = options["stream_port"]
        if stream_port is None:
            stream_port = options["port"] + 1 if options["port"] else 0
        if options["stream_ping"] <= 0:
            raise CommandError("--stream-ping must be positive")
        creds = ensure_credentials_file(options["credentials"])
        try:
            server = SandboxServer(
                host=options["host"], port=options["port"], scenario=options["scenario"],
                faults=options["faults"], seed=options["seed"], accounts=demo_accounts(creds),
                rate_limits=not options["no_rate_limit"], variants=variants,
                state_path=options["state"],
                stream_port=None if stream_port < 0 else stream_port,
                stream_options={"faults": options["stream_faults"],
                                "ping_interval": options["stream_ping"],
                                "pong_timeout": options["stream_ping"]},
            )
        except StateError as exc:
            raise CommandError(str(exc)) from exc
        try:
            server.start()
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"Sandbox on {server.url} (scenario {options['scenario']}, "
                          f"credentials in {options['credentials']})")
        if options["state"]:
            told = "restored from" if server.restored else "new, kept in"
            self.stdout.write(f"  state: {told} {options['state']}")
        changed = server.world.variants.changed()
        self.stdout.write("  variants: " + (", ".join(f"{k}={v}" for k, v in changed.items())
                                            or "the docs' defaults"))
        for exchange in EXCHANGES:
            self.stdout.write(f"  {exchange.upper()}_BASE_URL={server.base_url(exchange)}")
        if server.streams is not None:
            for exchange in STREAM_EXCHANGES:
                self.stdout.write(f"  {exchange.upper()}_WS_URL={server.stream_url(exchange)}")
        self.stdout.write(f"Control API: {server.url}/_sandbox/… (Ctrl-C to stop)")
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
            self.stdout.write("Sandbox stopped.")
