"""``python manage.py stream_books``: the market-data process (websocket books).

Runs until SIGTERM or SIGINT, then closes its connections and hands its leases
over at once. Any number may run, on any number of hosts: one is active per
exchange, the others stand by (trading/services/streaming.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from trading.services.streaming import LEASE_TTL, StreamerOptions, streams_run
from trading.tasks import detect_opportunities

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Stream the order books of Nobitex and Wallex over their websockets into Redis."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--exchange", action="append", dest="exchanges", metavar="NAME",
                            help="stream only this exchange (repeatable; default: every "
                                 "enabled exchange that has a websocket)")
        parser.add_argument("--lease-ttl", type=float, default=LEASE_TTL,
                            help="seconds a lease outlives its holder (default %(default)s)")
        parser.add_argument("--silence-limit", type=float, default=None,
                            help="seconds without a frame before a connection is dead "
                                 "(default: per exchange, 35 s Nobitex, 45 s Wallex)")
        parser.add_argument("--owner", default=None,
                            help="name of this streamer in the status (default host:pid)")

    def handle(self, *args, **options) -> None:
        if options["lease_ttl"] <= 0.5:
            raise CommandError("--lease-ttl must be more than 0.5 s")
        if options["silence_limit"] is not None and options["silence_limit"] <= 0:
            raise CommandError("--silence-limit must be positive")
        stream_settings = {}
        if options["silence_limit"] is not None:
            stream_settings["silence_limit"] = options["silence_limit"]
        streamer_options = StreamerOptions(
            lease_ttl=options["lease_ttl"], renew_every=min(1.0, options["lease_ttl"] / 3),
            stream_settings=stream_settings)
        try:
            asyncio.run(self._run(options["exchanges"], options["owner"], streamer_options))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("stream_books stopped.")

    async def _run(self, exchanges, owner, streamer_options) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        which = ", ".join(exchanges) if exchanges else "every enabled exchange with a websocket"
        self.stdout.write(f"stream_books: streaming {which} (SIGTERM/Ctrl-C stops)")
        self.stdout.flush()
        await streams_run(enqueue=detect_opportunities.delay, stop=stop, exchange_names=exchanges,
                          owner=owner, options=streamer_options)
