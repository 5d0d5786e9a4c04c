"""A tiny local HTTP server that replays scripted answers, byte for byte.

For golden and malformed-body tests: the adapter talks real HTTP to it, so
the whole path (requests, the HTTP client's classification, the checked
parsing) is exercised, and a body is sent exactly as written (a fixture that
is not valid JSON as the docs print it stays that way).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body, ensure_ascii=False).encode()
        return cls(status, raw, dict(headers or {}))


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    query_order: list[str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ReplayServer:
    """``server.route("GET", "/v1/depth", (200, body), …)``: answers in order for
    that route (the last one repeats); unknown routes get ``default``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.default = Answer.of(599, "no answer scripted for this route")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                pairs = parse_qsl(parts.query, keep_blank_values=True)
                with server._lock:
                    server.seen.append(Seen(self.command, parts.path, dict(pairs),
                                            [k for k, _ in pairs],
                                            {k.lower(): v for k, v in self.headers.items()},
                                            body))
                    queue = server.routes.get((self.command, parts.path))
                    answer = (queue.pop(0) if queue and len(queue) > 1 else
                              queue[0] if queue else server.default)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, *answers: Any) -> None:
        self.routes[(method, path)] = [
            a if isinstance(a, Answer) else Answer.of(*a) for a in answers
        ]

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
