"""Errors the system can act on.

Every error names the exchange and says what it answered, so a log line or an
operator's screen is enough to act on it. The classes say what to do next:

- ``TransientError``: the exchange did not answer usefully (timeout, dropped
  connection, 5xx, malformed body) on a call that changes nothing. A read may
  be retried.
- ``UnexpectedAnswerError`` (a ``TransientError``): an answer to a read that
  does not have the documented shape; what it says cannot be classified.
- ``RateLimitedError``: too many calls; ``retry_after`` seconds to wait.
- ``RejectedError``: a business refusal with the exchange's code and message
  (SmallOrder, insufficient balance…). The order does not exist. ``reason``
  names the refusal in the project's words where it is known
  (``INSUFFICIENT_BALANCE``…), whatever the exchange calls it.
- ``AuthenticationError``: credentials missing, wrong or without permission.
- ``NotFoundError``: the exchange said explicitly that the order is unknown
  (recovery relies on it to fail a ``pending_submit`` order safely).
- ``AmbiguousOrderError``: a place request whose outcome is unknown (timeout,
  dropped connection, 5xx, malformed answer after sending). The order may
  exist. It is never treated as failed and never re-sent; resolve it by
  looking up ``client_order_id``.
- ``DuplicateOrderIdError`` (an ``AmbiguousOrderError``): the exchange says
  an order with this client order id already exists (Wallex 409, Nobitex
  ``DuplicateClientOrderId``). This request created nothing, but an order
  under that id does exist: look it up, never mark it failed.
- ``CircuitOpenError``: the breaker is open; nothing was sent.
- ``ConfigurationError``: this deployment's settings for the exchange are
  invalid (an unknown wire variant …); nothing was sent.
- ``ParseError``: raised inside the adapters' checked parsing path only; it
  never leaves an adapter (it becomes ``TransientError`` or
  ``AmbiguousOrderError``).

None of them carry credentials: messages are built from the exchange's answer
body and status only, never from request headers.
"""

from __future__ import annotations


class ExchangeError(Exception):
    """Base of every exchange-layer error."""

    def __init__(
        self,
        exchange: str,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.exchange = exchange
        self.message = message
        self.code = code
        self.http_status = http_status
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.exchange}:"]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.code:
            parts.append(f"[{self.code}]")
        parts.append(self.message)
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()!r})"


class TransientError(ExchangeError):
    """No useful answer; nothing changed (or the call was a read). Retry later."""


class UnexpectedAnswerError(TransientError):
    """The exchange answered a read, but not in any shape its docs describe (an
    undocumented not-found body, a field missing): asking again will most
    likely get the same answer, so what it means about an order is for a
    human to settle, never to be guessed (``OrdersLookup.unclear``)."""


class RateLimitedError(TransientError):
    def __init__(
        self,
        exchange: str,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(exchange, message, code=code, http_status=http_status)

    def _describe(self) -> str:
        text = super()._describe()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g}s)"
        return text


class CircuitOpenError(TransientError):
    """The exchange's circuit breaker is open: the call was not sent."""


class ConfigurationError(ExchangeError):
    """The exchange is configured wrongly here; nothing was sent. Fix the row."""


class RejectedError(ExchangeError):
    """The exchange refused the request (or we refused it locally, ``code='Local…'``)."""

    INSUFFICIENT_BALANCE = "insufficient_balance"
    SMALL_ORDER = "small_order"
    BAD_PRICE = "bad_price"
    DUPLICATE_ORDER = "duplicate_order"  # Nobitex: an identical order within 10 s
    MARKET_CLOSED = "market_closed"

    def __init__(
        self,
        exchange: str,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.reason = reason
        super().__init__(exchange, message, code=code, http_status=http_status)


class AuthenticationError(ExchangeError):
    """Missing, wrong or insufficient credentials."""


class NotFoundError(ExchangeError):
    """The exchange answered explicitly that the order does not exist."""


class AmbiguousOrderError(ExchangeError):
    """A place whose outcome is unknown. Look the client order id up; never re-send."""

    def __init__(
        self,
        exchange: str,
        message: str,
        *,
        client_order_id: str,
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.client_order_id = client_order_id
        super().__init__(exchange, message, code=code, http_status=http_status)

    def _describe(self) -> str:
        return (
            f"{super()._describe()} (order {self.client_order_id} may or may not exist: "
            "look it up by client order id)"
        )


class DuplicateOrderIdError(AmbiguousOrderError):
    """An order with this client order id already exists on the exchange.

    The request itself was refused, so it is not the answer of a place that
    created an order; but an order under this id is there (ours: ids are
    never reused), so it is resolved like an ambiguous place, by looking
    the client order id up.
    """

    def _describe(self) -> str:
        return (
            f"{ExchangeError._describe(self)} (an order with client order id "
            f"{self.client_order_id} already exists: look it up, never treat it as failed)"
        )


class ParseError(ValueError):
    """An answer that does not have the documented shape (the checked path's error).

    ``path`` says where in the answer (``order.matchedAmount``); it never
    leaves an adapter: ``ExchangeAdapter.parsing`` turns it into the right
    ``ExchangeError``.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)
