"""``python manage.py run_sandbox``: the offline exchange sandbox, until Ctrl-C or SIGTERM.

Needs no database, so it can start before migrations.
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
from exchanges.sandbox.streams.faults import STREAM_EXCHANGES, parse_stream_spec


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

    def handle(self, *args, **options) -> None:
        try:
            parse_spec(options["faults"])
            parse_stream_spec(options["stream_faults"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        stream_port = options["stream_port"]
        if stream_port is None:
            stream_port = options["port"] + 1 if options["port"] else 0
        if options["stream_ping"] <= 0:
            raise CommandError("--stream-ping must be positive")
        creds = ensure_credentials_file(options["credentials"])
        server = SandboxServer(
            host=options["host"], port=options["port"], scenario=options["scenario"],
            faults=options["faults"], seed=options["seed"], accounts=demo_accounts(creds),
            rate_limits=not options["no_rate_limit"],
            stream_port=None if stream_port < 0 else stream_port,
            stream_options={"faults": options["stream_faults"],
                            "ping_interval": options["stream_ping"],
                            "pong_timeout": options["stream_ping"]},
        )
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
