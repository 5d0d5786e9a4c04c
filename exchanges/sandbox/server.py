"""The sandbox's HTTP server: routes by exchange prefix, injects faults, limits rates.

Stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive: one thread per
connection, so a request told to hang never blocks the others.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .accounts import SandboxAccount
from .control import handle_control
from .markets import EXCHANGES
from .ratelimit import LIMITS
from .state import StateStore
from .streams import StreamServer, handle_stream_control
from .wire.common import Request, Response
from .world import SandboxWorld

logger = logging.getLogger(__name__)

PREFIXES = {"nobitex": "/nobitex", "wallex": "/wallex", "invex": "/invex/trading/v1"}


@dataclass
class Drop:
    """Close the connection without an answer (after ``wait`` seconds)."""

    wait: float = 0.0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, handler, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arbsite-sandbox/1.0"
    timeout = 120  # idle keep-alive connections are closed after this
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET  # noqa: N815

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        outcome = self.server.sandbox.dispatch(
            self.command, self.path, headers, body, self.client_address[0]
        )
        if isinstance(outcome, Drop):
            if outcome.wait:
                self.server.sandbox.stopping.wait(outcome.wait)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = outcome.encode()
        self.send_response(outcome.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)


class SandboxServer:
    """The offline exchange sandbox: ``SandboxServer(port=0).start()`` … ``.stop()``.

    The control methods (``set_faults``, ``set_book``, ``set_variants`` …) do in-process
    what the ``/_sandbox/`` API does over HTTP. ``variants`` picks readings of the points
    the docs leave open (``variants.py``). ``state_path`` keeps orders, fills, balances and
    id counters in that file across restarts (read now, written after changes and on
    stop); without it the state lives in memory only.
    """

    HANG_SECONDS = 30.0

    def __init__(self, host: str = "127.0.0.1", port: int = 0, scenario: str = "default",
                 faults: str | None = None, seed: int | None = None,
                 accounts: list[SandboxAccount] | None = None, *, rate_limits: bool = True,
                 invex_cancel_delay: float = 0.3, hang_seconds: float = HANG_SECONDS,
                 stream_port: int | None = None, stream_options: dict | None = None,
                 variants: dict[str, str] | None = None,
                 state_path: str | Path | None = None) -> None:
        self.host, self.port = host, port
        self.hang_seconds = hang_seconds
        self.world = SandboxWorld(scenario=scenario, seed=seed, faults=faults,
                                  rate_limits=rate_limits, invex_cancel_delay=invex_cancel_delay,
                                  variants=variants)
        for account in accounts or []:
            self.world.add_account(account)
        # The websockets (streams/): on their own port when ``stream_port`` is given
        # (0: any free port).
        self.streams: StreamServer | None = None
        if stream_port is not None:
            self.streams = StreamServer(self.world, host, stream_port, seed=seed,
                                        **(stream_options or {}))
        self.store = StateStore(state_path, self.world) if state_path else None
        self.restored = self.store.restore() if self.store else False
        self.stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> SandboxServer:
        self.stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                             name="sandbox-http", daemon=True),
            threading.Thread(target=self._tick_forever, name="sandbox-ticker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self.streams is not None:
            self.streams.start()
        if self.store:
            self.store.start()
        logger.info("sandbox serving on %s (scenario %s)", self.url, self.world.scenario)
        return self

    def stop(self) -> None:
        """Stop serving: wake hanging requests, close the listener and open connections."""
        self.stopping.set()
        if self.streams is not None:
            self.streams.stop()
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._httpd.connections_lock:
            connections = list(self._httpd.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._httpd = None
        if self.store:
            self.store.stop()  # what the last requests changed

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, exchange: str) -> str:
        return self.url + PREFIXES[exchange]

    def stream_url(self, exchange: str) -> str:
        if self.streams is None:
            raise RuntimeError("this sandbox was started without streams (stream_port)")
        return self.streams.url(exchange)

    def _tick_forever(self) -> None:
        while not self.stopping.wait(self.world.model.TICK_SECONDS):
            try:
                self.world.tick()
            except Exception:
                logger.exception("sandbox tick failed")

    # -- control (same operations as /_sandbox/) ------------------------------------

    def state(self) -> dict:
        return self.world.state()

    def set_faults(self, spec: str | None, *, replace: bool = False) -> None:
        self.world.faults.apply(spec, replace=replace)
        self.world.served_books_changed()

    def clear_faults(self) -> None:
        self.world.faults.clear()
        self.world.served_books_changed()

    def set_book(self, exchange: str, symbol: str, asks: list, bids: list,
                 freeze: bool = True) -> None:
        self.world.set_book(exchange, symbol, asks, bids, freeze)

    def pause_drift(self) -> None:
        self.world.drift_paused = True

    def resume_drift(self) -> None:
        self.world.drift_paused = False

    def step(self, ticks: int = 1) -> None:
        self.world.step(ticks)

    def open_spread(self, exchange: str, base: str, quote: str, offset: Decimal | str,
                    ticks: int = 20) -> None:
        self.world.open_spread(exchange, base, quote, Decimal(str(offset)), ticks)

    def add_account(self, account: SandboxAccount) -> None:
        self.world.add_account(account)

    def reset(self) -> None:
        self.world.reset()

    def set_variants(self, variants: dict[str, str]) -> dict[str, str]:
        """Switch variants while serving; returns all of them. ValueError on a bad one."""
        return self.world.variants.update(variants)

    def save_state(self) -> None:
        """Write the state file now (no-op without one)."""
        if self.store:
            self.store.save()

    # -- dispatch -------------------------------------------------------------------

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes,
                 client: str) -> Response | Drop:
        parts = urlsplit(raw_path)
        path = parts.path
        if path.rstrip("/") == "/_sandbox/streams":
            return handle_stream_control(self.streams, method, body)
        if path.startswith("/_sandbox/"):
            return handle_control(self.world, method, path, body)
        for exchange in EXCHANGES:
            prefix = PREFIXES[exchange]
            if path == prefix or path.startswith(prefix + "/"):
                items = parse_qsl(parts.query, keep_blank_values=True)
                query: dict[str, str] = {}
                for name, value in items:
                    query.setdefault(name, value)
                req = Request(method, path[len(prefix):] or "/", query, headers, body, client,
                              items)
                return self._exchange(exchange, req)
        return Response(404, {"detail": "Unknown path; exchanges live under "
                                        + ", ".join(PREFIXES.values())})

    def _exchange(self, exchange: str, req: Request) -> Response | Drop:
        world = self.world
        engine, wire = world.engines[exchange], world.wires[exchange]
        faults = world.faults
        settings = faults.get(exchange)
        with engine.lock:
            engine.counters.requests += 1
        if settings.down:
            self._count(engine, "faults_injected")
            if settings.down == "close":
                return Drop()
            return Response(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>")
        if settings.latency_ms:
            self.stopping.wait(settings.latency_ms / 1000)
        if faults.roll(exchange, "timeout"):
            self._count(engine, "faults_injected")
            return Drop(wait=self.hang_seconds)
        if faults.roll(exchange, "error5xx"):
            self._count(engine, "faults_injected")
            status = faults.choice(exchange, (500, 502, 503))
            return Response(status, f"<html><body><h1>{status}</h1></body></html>".encode())
        if faults.roll(exchange, "ratelimit"):
            self._count(engine, "rate_limited")
            back_off = faults.choice(exchange, (1, 2, 3))
            route = wire.resolve(req.method, req.path)
            limit = LIMITS.get(exchange, {}).get(route.group, (0, 0))[0] if route else 0
            return wire.too_many(back_off, limit)
        if faults.roll(exchange, "malformed"):
            self._count(engine, "faults_injected")
            return Response(200, faults.choice(exchange, (
                b'{"status":"ok","order":{"id":', b"<html>upstream error</html>", b"",
            )))
        route = wire.resolve(req.method, req.path)
        if route is None:
            return wire.not_found()
        who = wire.api_key(req) or f"ip:{req.client}"
        verdict = world.limiter.check(exchange, route.group, who)
        if not verdict.allowed:
            self._count(engine, "rate_limited")
            refusal = wire.too_many(verdict.back_off, verdict.limit)
            refusal.headers.update(wire.rate_headers(verdict.limit, 0))
            return refusal
        started = time.monotonic()
        with engine.lock:
            engine.process_due()
            placed_before = engine.counters.orders_placed
            try:
                response = route.handler(req)
            except Exception:
                logger.exception("sandbox %s %s %s failed", exchange, req.method, req.path)
                response = Response(500, b"<html><body><h1>500 Internal Server Error</h1>"
                                         b"</body></html>")
            placed = engine.counters.orders_placed > placed_before
        if verdict.limit:
            response.headers.update(wire.rate_headers(verdict.limit, verdict.remaining))
        if route.places_order and placed:  # a taker may have eaten levels: the streams look
            world.books_changed(exchange)
        logger.debug("%s %s %s -> %s in %.1f ms", exchange, req.method, req.path,
                     response.status, (time.monotonic() - started) * 1000)
        # lost_answer: an order was placed (refusals, even HTTP 200 ones, are not lost)
        if route.places_order and placed and faults.roll(exchange, "lost_answer"):
            self._count(engine, "lost_answers")
            if faults.choice(exchange, ("502", "drop")) == "502":
                return Response(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
            return Drop()
        return response

    @staticmethod
    def _count(engine, counter: str) -> None:
        with engine.lock:
            setattr(engine.counters, counter, getattr(engine.counters, counter) + 1)
