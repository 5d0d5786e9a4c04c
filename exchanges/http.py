"""HTTP for the adapters: one keep-alive Session per exchange, a timeout on
every call, retries for reads only, and the classification of every failure
into the errors of ``exchanges.errors``.

The rule that matters most: a place request that was (or may have been) sent
and got no usable answer raises ``AmbiguousOrderError`` and is never re-sent.
Only when the connection was never made (connect timeout or refusal: no byte
of the request left this machine) is a place failure a plain
``TransientError``. Cancels are retried like reads: repeating a cancel cannot
create exposure; if the first attempt did land, the retry may come back as a
rejection or not-found, so callers confirm a cancel by reading the order.

Nothing here logs or raises with request headers: credentials travel only in
headers, so neither log lines nor exception messages can contain them. A
connection failure names the address that was tried (scheme, host, port and
path; never the query, which carries Invex's signatures).

An authentication refusal (401/403) of a call with credentials stops the
exchange's private calls through the breaker (``CircuitBreaker.record_auth_failure``)
instead of letting every worker retry into an IP block.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from exchanges.breaker import CircuitBreaker
from exchanges.errors import (
    AmbiguousOrderError,
    AuthenticationError,
    CircuitOpenError,
    DuplicateOrderIdError,
    ExchangeError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from exchanges.ratelimit import DEFAULT_BACKOFF_S

logger = logging.getLogger(__name__)

USER_AGENT = "arbsite/0.1 (+python-requests)"


class Limiter(Protocol):
    """The shared ``RateLimiter`` or a probe's ``LocalRateLimiter``."""

    def acquire(self, endpoint: str, *, max_wait: float | None = None) -> None: ...

    def record_backoff(self, seconds: float, reason: str = "") -> None: ...


class CallKind(Enum):
    READ = "read"  # safe to repeat
    CANCEL = "cancel"  # safe to repeat (no new exposure); see module docstring
    PLACE = "place"  # never repeated; a lost answer is ambiguous


@dataclass(frozen=True, slots=True)
class HttpSettings:
    base_url: str
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    read_retries: int = 2  # extra attempts for READ/CANCEL calls
    retry_backoff: float = 0.2  # seconds, doubled per attempt, with jitter
    pool_size: int = 16
    user_agent: str = USER_AGENT
    default_backoff: float = DEFAULT_BACKOFF_S  # a 429 that names no back-off


@dataclass(slots=True)
class Call:
    method: str
    path: str
    endpoint: str  # rate-limit class (exchanges.ratelimit)
    kind: CallKind = CallKind.READ
    params: Mapping[str, Any] | None = None
    json_body: Any = None
    # Bytes sent as the body exactly as given (Invex signs these very bytes);
    # with ``json_body`` None. Content-Type is the adapter's to set.
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    client_order_id: str | None = None
    # Carries credentials: a 401/403 stops the exchange's private calls.
    private: bool = False
    # A lookup of one order by id: an explicit not-found answer means "no
    # such order" here, and only here.
    lookup: bool = False
    # Longest wait for a rate-limit slot; None: the limiter's default. The
    # poller passes 0: a book it cannot fetch now is fetched next cycle.
    max_wait: float | None = None
    # Called before each attempt (retries included) to return the call as sent:
    # Invex signs every attempt afresh, as it refuses replayed signatures.
    prepare: Callable[[Call], Call] | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What an adapter reads out of an error answer."""

    code: str | None
    message: str
    retry_after: float | None = None
    not_found: bool = False
    auth: bool = False
    rate_limited: bool = False
    reason: str | None = None  # RejectedError.reason (insufficient balance …)
    duplicate_id: bool = False  # an order with this client order id exists


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """An answer as it came, unjudged: what the conformance check reads to see
    which reading of the docs an exchange speaks (``HttpClient.send_raw``)."""

    status: int
    body: Any  # parsed JSON (every non-integer number a Decimal), None if empty or not JSON
    text: str
    headers: Mapping[str, str]

    @property
    def is_json(self) -> bool:
        return self.body is not None


# An adapter's reader of error answers: ``(http_status, body, call) -> ErrorInfo``
# when the answer is an error (any status, including a 200 with a failure
# envelope), None when it is a success. ``body`` is None when not JSON.
ErrorReader = Callable[[int, Any, "Call"], ErrorInfo | None]

_NOT_JSON = object()


def parse_json(text: str) -> Any:
    """JSON with every non-integer number as Decimal: no float ever touches money."""
    return json.loads(text, parse_float=Decimal)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the exchange."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(inner, NewConnectionError)
    return False


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after_header(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare for APIs, fall back to the body or default


class HttpClient:
    """Sends ``Call``s to one exchange and returns parsed JSON or raises."""

    def __init__(
        self,
        exchange: str,
        settings: HttpSettings,
        read_error: ErrorReader,
        *,
        limiter: Limiter | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange = exchange
        self.settings = settings
        self._read_error = read_error
        self.limiter = limiter
        self.breaker = breaker
        self._sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=2, pool_maxsize=settings.pool_size, max_retries=0
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": settings.user_agent,
                                     "Accept": "application/json"})

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")

    def address(self, path: str) -> str:
        """Where a call goes, for messages: scheme, host, port and path; never the
        query or a user:password a base URL might carry."""
        parts = urlsplit(self.url(path))
        host = parts.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    # -- the call -----------------------------------------------------------

    def send(self, call: Call) -> Any:
        attempts = 1 if call.kind is CallKind.PLACE else 1 + self.settings.read_retries
        for attempt in range(1, attempts + 1):
            try:
                return self._send_once(call)
            except (CircuitOpenError, RateLimitedError):
                raise
            except TransientError as exc:
                if attempt >= attempts:
                    raise
                delay = self.settings.retry_backoff * (2 ** (attempt - 1))
                delay *= 0.5 + random.random()  # jitter, so workers do not retry in step
                logger.info(
                    "%s %s %s failed (%s); retry %d/%d in %.2fs",
                    self.exchange, call.method, call.path, exc.message,
                    attempt, attempts - 1, delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _send_once(self, call: Call) -> Any:
        if self.breaker is not None:
            self.breaker.before_call(private=call.private)
        if self.limiter is not None:
            self.limiter.acquire(call.endpoint, max_wait=call.max_wait)
        sent = call.prepare(call) if call.prepare is not None else call
        started = time.monotonic()
        try:
            response = self.session.request(
                sent.method,
                self.url(sent.path),
                params=sent.params,
                json=sent.json_body if sent.body is None else None,
                data=sent.body,
                headers=dict(sent.headers),
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
        except requests.RequestException as exc:
            error = self._transport_error(call, exc)
            self._failed(error)
            raise error from None
        elapsed = time.monotonic() - started
        logger.debug(
            "%s %s %s -> %s in %.0f ms%s",
            self.exchange, call.method, call.path, response.status_code, elapsed * 1000,
            f" (order {call.client_order_id})" if call.client_order_id else "",
        )
        return self._judge(call, response)

    def send_raw(self, call: Call) -> RawAnswer:
        """Send ``call`` once and return the answer as it came: no retry, no
        judging, nothing recorded on the breaker. The rate limiter still
        applies (a probe's own budget); a failure to get any answer is the
        ``TransientError`` (``AmbiguousOrderError`` for a place) ``send``
        would raise."""
        if self.limiter is not None:
            self.limiter.acquire(call.endpoint, max_wait=call.max_wait)
        sent = call.prepare(call) if call.prepare is not None else call
        try:
            response = self.session.request(
                sent.method, self.url(sent.path), params=sent.params,
                json=sent.json_body if sent.body is None else None, data=sent.body,
                headers=dict(sent.headers),
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
        except requests.RequestException as exc:
            raise self._transport_error(call, exc) from None
        text = response.text
        try:
            body = parse_json(text) if text.strip() else None
        except ValueError:
            body = None
        return RawAnswer(response.status_code, body, text, dict(response.headers))

    # -- classification -----------------------------------------------------

    def _failed(self, error: ExchangeError) -> None:
        if self.breaker is not None:
            self.breaker.record_failure(str(error))

    def _succeeded(self, call: Call) -> None:
        if self.breaker is not None:
            self.breaker.record_success(private=call.private)

    def _unanswered(
        self, call: Call, message: str, http_status: int | None = None
    ) -> ExchangeError:
        """No usable answer after the request may have been processed."""
        if call.kind is CallKind.PLACE:
            return AmbiguousOrderError(
                self.exchange, message, client_order_id=call.client_order_id or "?",
                http_status=http_status,
            )
        return TransientError(self.exchange, message, http_status=http_status)

    def _transport_error(self, call: Call, exc: requests.RequestException) -> ExchangeError:
        where = f"{call.method} {call.path}"
        address = self.address(call.path)
        if _never_sent(exc):
            logger.warning("%s %s: could not connect to %s (%s)", self.exchange, where,
                           address, type(exc).__name__)
            return TransientError(
                self.exchange, f"{where}: could not connect to {address}, request not sent")
        if isinstance(exc, requests.Timeout):
            what = f"no answer from {address} within {self.settings.read_timeout:g}s"
        elif isinstance(exc, requests.ConnectionError):
            what = f"connection to {address} dropped before the answer"
        else:
            what = f"request to {address} failed ({type(exc).__name__})"
        logger.warning(
            "%s %s: %s%s", self.exchange, where, what,
            f" (order {call.client_order_id})" if call.client_order_id else "",
        )
        return self._unanswered(call, f"{where}: {what}")

    def _judge(self, call: Call, response: requests.Response) -> Any:
        status = response.status_code
        where = f"{call.method} {call.path}"
        text = response.text
        try:
            body: Any = parse_json(text) if text.strip() else None
        except ValueError:
            body = _NOT_JSON
        parsed = None if body is _NOT_JSON else body

        if status >= 500:
            error = self._unanswered(call, f"{where}: server error: {_snippet(text)}", status)
            self._failed(error)
            logger.warning("%s", error)
            raise error

        info = self._read_error(status, parsed, call)
        if status == 429 or (info is not None and info.rate_limited):
            retry_after = (info.retry_after if info else None) or _retry_after_header(response)
            message = info.message if info else _snippet(text)
            if retry_after is None:
                retry_after = self.settings.default_backoff
                message += f" (no back-off given: waiting the default {retry_after:g}s)"
            if self.limiter is not None:
                self.limiter.record_backoff(retry_after, f"HTTP {status} on {where}: {message}")
            self._succeeded(call)  # the exchange is up; it just wants fewer calls
            raise RateLimitedError(
                self.exchange, f"{where}: {message}",
                retry_after=retry_after, code=info.code if info else None, http_status=status,
            )
        if info is None and status >= 400:
            info = ErrorInfo(code=None, message=_snippet(text) or response.reason or "error")
        if info is not None:
            message = f"{where}: {info.message}"
            kwargs = {"code": info.code, "http_status": status}
            if status in (401, 403) or info.auth:
                error = AuthenticationError(self.exchange, message, **kwargs)
                if call.private and self.breaker is not None:
                    self.breaker.record_auth_failure(f"authentication refused: {error}")
                else:
                    self._succeeded(call)
                raise error
            self._succeeded(call)
            # Only an explicit not-found answer to a lookup of one order counts
            # (recovery fails orders on it); a bare 404, e.g. from a wrong base
            # URL, is a plain rejection.
            if info.not_found:
                raise NotFoundError(self.exchange, message, **kwargs)
            if info.duplicate_id and call.client_order_id:
                raise DuplicateOrderIdError(self.exchange, message,
                                            client_order_id=call.client_order_id, **kwargs)
            raise RejectedError(self.exchange, message, reason=info.reason, **kwargs)
        if body is _NOT_JSON:
            error = self._unanswered(
                call, f"{where}: malformed answer (not JSON): {_snippet(text, 120)}", status
            )
            self._failed(error)
            logger.warning("%s", error)
            raise error
        self._succeeded(call)
        return parsed
