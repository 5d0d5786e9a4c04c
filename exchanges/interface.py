"""The one face every exchange adapter shows to the rest of the project.

An adapter is a plain Python object built from an ``AdapterConfig`` (base
URL, credentials, market specs, timeouts, limits, wire variants), so tests
build one without the database; ``exchanges.registry`` builds them from the
``Exchange``/``ExchangeMarket`` rows. Adapters take and return only the value
objects of ``exchanges.types``, in project units, and raise only the errors
of ``exchanges.errors``: every answer is read through one checked path
(``fetch``: a parser over ``exchanges.adapters._common.Node``), so an empty
or malformed answer is a ``TransientError`` (``AmbiguousOrderError`` after a
place), never a ``KeyError`` or ``AttributeError``.

An adapter built with ``probe=True`` (the ``exchange`` command,
``recover_orders --dry-run``) has no shared circuit breaker (it neither
counts towards it nor is stopped by it) and its own, conservative, local
rate budget (``LocalRateLimiter``), so it spends nothing trading needs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import InvalidOperation
from typing import Any, ClassVar, TypeVar

from exchanges.adapters._common import Node, utc_from_iso, utc_from_ms, utc_from_seconds
from exchanges.breaker import CircuitBreaker
from exchanges.errors import (
    AmbiguousOrderError,
    AuthenticationError,
    ConfigurationError,
    ExchangeError,
    NotFoundError,
    ParseError,
    RateLimitedError,
    RejectedError,
    UnexpectedAnswerError,
)
from exchanges.http import (
    USER_AGENT,
    Call,
    CallKind,
    ErrorInfo,
    HttpClient,
    HttpSettings,
    RawAnswer,
)
from exchanges.logging import register_secret
from exchanges.markets import MarketSpec, PreparedOrder, prepare_order, split_market
from exchanges.ratelimit import (
    DEFAULT_BACKOFF_S,
    DEFAULT_LIMITS,
    Limit,
    LocalRateLimiter,
    RateLimiter,
)
from exchanges.types import (
    Balance,
    ExchangeOrder,
    FeeRate,
    Fill,
    MarketRules,
    OrderBook,
    OrderRef,
    OrderRequest,
    OrdersLookup,
)
from exchanges.variants import validate_variants, variant_value

logger = logging.getLogger(__name__)

T = TypeVar("T")
# How far before an order was written down its exchange timestamp may lie
# (clock skew between this host and the exchange) when bounding list reads.
LIST_LOOKBACK_MARGIN_S = 600


@dataclass(frozen=True)
class AdapterConfig:
    """Everything an adapter needs. Credentials never appear in its repr."""

    name: str  # the Exchange row's name: logs, Redis keys, errors
    base_url: str
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    markets: Mapping[str, MarketSpec] = field(default_factory=dict)  # by canonical code
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    read_retries: int = 2
    retry_backoff: float = 0.2
    # None: no rate limiting (tests, bench). Otherwise limits per endpoint class.
    rate_limits: Mapping[str, Limit] | None = None
    rate_limit_max_wait: float = 2.0
    breaker: bool = False
    breaker_threshold: int | None = None
    breaker_cooldown: float | None = None
    # The readings of the docs' open points this exchange speaks
    # (``exchanges.variants``); empty: the defaults.
    variants: Mapping[str, str] = field(default_factory=dict)
    # A probe: no shared breaker, a local and conservative rate budget.
    probe: bool = False
    default_backoff: float = DEFAULT_BACKOFF_S  # after a 429 that names none


class ExchangeAdapter(ABC):
    """Base of the Nobitex, Wallex and Invex adapters."""

    kind: ClassVar[str]  # nobitex | wallex | invex
    default_base_url: ClassVar[str]
    user_agent: ClassVar[str] = USER_AGENT
    # The pages of one listing are read as one answer: a rate limit met half
    # way is waited out (up to this many seconds) rather than starting over.
    LIST_PATIENCE: ClassVar[float] = 60.0

    def __init__(
        self,
        config: AdapterConfig,
        *,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        register_secret(config.api_key)
        register_secret(config.api_secret)
        try:
            self.variants = validate_variants(self.kind, config.variants)
        except ValueError as exc:
            raise ConfigurationError(config.name, f"wire variants: {exc}") from None
        self.markets: dict[str, MarketSpec] = {
            code.upper(): spec for code, spec in config.markets.items()
        }
        self._by_symbol = {spec.symbol.upper(): spec for spec in self.markets.values()}
        if config.probe:
            # Reads the shared back-off (the exchange asked it of everyone) but
            # writes nothing shared, and spends only its own small budget.
            shared = (RateLimiter(config.name, {}) if config.rate_limits is not None
                      else None)
            limiter = LocalRateLimiter(
                config.name, config.rate_limits or DEFAULT_LIMITS.get(self.kind, {}),
                max_wait=config.rate_limit_max_wait, shared=shared,
            )
            breaker = None
        else:
            if limiter is None and config.rate_limits is not None:
                limiter = RateLimiter(
                    config.name, config.rate_limits, max_wait=config.rate_limit_max_wait
                )
            if breaker is None and config.breaker:
                breaker = CircuitBreaker(
                    config.name,
                    threshold=config.breaker_threshold,
                    cooldown=config.breaker_cooldown,
                )
        self.probe = config.probe
        self.http = HttpClient(
            config.name,
            HttpSettings(
                base_url=config.base_url,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                read_retries=config.read_retries,
                retry_backoff=config.retry_backoff,
                user_agent=self.user_agent,
                default_backoff=config.default_backoff,
            ),
            self.read_error,
            limiter=limiter,
            breaker=breaker,
        )

    def place_wait(self) -> float:
        """Seconds before this exchange would admit an order (its shared rate
        limit for placing, or a back-off it asked for); 0 when now or unlimited."""
        limiter = self.http.limiter
        return limiter.wait_needed("place") if isinstance(limiter, RateLimiter) else 0.0

    def __repr__(self) -> str:
        probe = " probe" if self.probe else ""
        return f"<{type(self).__name__} {self.name} {self.config.base_url}{probe}>"

    def variant(self, name: str) -> str:
        """The configured reading of one open point of the docs (or its default)."""
        return variant_value(self.kind, self.variants, name)

    def close(self) -> None:
        self.http.close()

    # -- the interface --------------------------------------------------------

    @abstractmethod
    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        """Bids and asks best first, prices in project units. ``max_wait`` bounds
        the wait for a rate-limit slot (None: the configured default)."""

    def place_order(self, request: OrderRequest) -> ExchangeOrder:
        """Round to the listing's rules, refuse locally if too small, then send once.

        Raises ``AmbiguousOrderError`` when the answer is lost: the order may
        exist; look it up with ``find_order(request.client_order_id)``.
        """
        spec = self.spec(request.market)
        prepared = prepare_order(self.name, spec, request)
        self._require_credentials()
        logger.info(
            "%s: placing %s %s %s qty=%s price=%s (order %s)",
            self.name, request.market, request.side, request.type, prepared.quantity,
            prepared.price, request.client_order_id,
        )
        return self._place(prepared)

    @abstractmethod
    def get_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> ExchangeOrder:
        """One order, by either id. ``NotFoundError`` when the exchange says it has none."""

    def find_order(self, client_order_id: str, market: str | None = None, *,
                   ref: OrderRef | None = None) -> ExchangeOrder | None:
        """Resolve an ambiguous place: the order, or None if the exchange says it never was.

        Transient errors propagate: "could not ask" is not "does not exist".
        ``ref`` (what the order was: side, quantity, price, when) lets an
        exchange that cannot look a closed order up by client order id
        (Nobitex) find it in its order list.
        """
        try:
            return self.get_order(client_order_id=client_order_id, market=market)
        except NotFoundError:
            return None

    def lookup_orders(self, refs: list[OrderRef], *, patience: float = 0.0,
                      known_exchange_ids: Collection[str] | None = None) -> OrdersLookup:
        """Many orders at once: list endpoints first (``_list_lookup``, where the
        exchange has them), then one status call for each order still missing.

        A rate limit is waited out for up to ``patience`` seconds in all (the
        local limiter and the exchange's 429 alike); past that, the orders not
        asked about are in ``errors``, never in ``not_found``.

        ``known_exchange_ids``: the exchange ids of every order the caller
        already knows on this exchange. An exchange whose lists name no client
        order id (Nobitex) may match a lost-answer order by what it was only
        when this is given, so that a known twin (same side, amount, price and
        minute) is never taken for it; without it such rows can prove an
        order absent, never present.
        """
        result = OrdersLookup()
        deadline = time.monotonic() + patience
        if not refs:
            return result
        try:
            result.found.update(self._list_lookup(refs, deadline=deadline, result=result))
        except ExchangeError as exc:
            logger.warning("%s: batched order lookup failed, asking one by one: %s",
                           self.name, exc)
        for ref in refs:
            if ref.client_order_id in result.found:
                continue
            try:
                result.calls += 1
                result.found[ref.client_order_id] = self.patiently(
                    lambda ref=ref: self.get_order(
                        exchange_order_id=ref.exchange_order_id,
                        client_order_id=ref.client_order_id, market=ref.market),
                    deadline=deadline,
                )
            except NotFoundError:
                result.not_found.add(ref.client_order_id)
            except ExchangeError as exc:
                result.errors[ref.client_order_id] = str(exc)
                if answer_unclear(exc):
                    result.unclear.add(ref.client_order_id)
        return result

    def _list_lookup(self, refs: list[OrderRef], *, deadline: float,
                     result: OrdersLookup) -> dict[str, ExchangeOrder]:
        """Orders of ``refs`` found through list endpoints, by client order id.
        Absence here proves nothing: the caller asks for the rest one by one."""
        return {}

    def patiently(self, call: Callable[[], T], *, deadline: float) -> T:
        """``call()``, waiting out rate limits until ``deadline`` (monotonic)."""
        while True:
            try:
                return call()
            except RateLimitedError as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if time.monotonic() + wait > deadline:
                    raise
                logger.info("%s: rate limited, waiting %.1fs", self.name, wait)
                time.sleep(wait)

    @abstractmethod
    def open_orders(self, market: str | None = None) -> list[ExchangeOrder]:
        """Orders still live on the exchange (all markets when ``market`` is None)."""

    @abstractmethod
    def cancel_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> None:
        """Ask the exchange to cancel. Confirm with ``get_order``: on some exchanges
        (Invex) cancelling is asynchronous, and a retried cancel that had already
        landed comes back as a refusal."""

    @abstractmethod
    def balances(self) -> dict[str, Balance]:
        """Balances by project asset (IRR in rial)."""

    @abstractmethod
    def recent_fills(self, market: str | None = None) -> list[Fill]:
        """The account's recent executions, newest first where the exchange says."""

    @abstractmethod
    def market_rules(self) -> dict[str, MarketRules]:
        """Every listing's published rules, by the exchange's symbol."""

    @abstractmethod
    def fee_rates(self) -> dict[str, FeeRate]:
        """The account's fee rates by symbol ("*": one rate for every market)."""

    # -- for subclasses ----------------------------------------------------------

    @abstractmethod
    def _place(self, order: PreparedOrder) -> ExchangeOrder: ...

    @abstractmethod
    def read_error(self, status: int, body: Any, call: Call) -> ErrorInfo | None:
        """Read the exchange's error envelope; None when the answer is a success.

        Must not fail on any ``body`` (None, a list, a string): it runs before
        the checked parsing path.
        """

    def auth_headers(self, call: Call) -> dict[str, str]:
        return {}

    def spec(self, market: str) -> MarketSpec:
        base, quote = split_market(market)
        code = f"{base}-{quote}"
        try:
            return self.markets[code]
        except KeyError:
            listed = ", ".join(sorted(self.markets)) or "none"
            raise ValueError(
                f"{self.name} has no market {code} configured (configured: {listed})"
            ) from None

    def spec_for_symbol(self, symbol: str) -> MarketSpec | None:
        return self._by_symbol.get(str(symbol).upper())

    def send(self, call: Call) -> Any:
        auth = self.auth_headers(call)
        call.headers = {**call.headers, **auth}
        call.private = call.private or bool(auth)
        return self.http.send(call)

    def send_raw(self, call: Call) -> RawAnswer:
        """``call`` with this exchange's credentials, its answer unjudged (the
        conformance check's probes; ``HttpClient.send_raw``)."""
        auth = self.auth_headers(call)
        call.headers = {**call.headers, **auth}
        call.private = call.private or bool(auth)
        return self.http.send_raw(call)

    def fetch(self, call: Call, what: str, parse: Callable[[Node], T], *,
              allow_empty: bool = False) -> T:
        """Send ``call`` and read its answer with ``parse``, through the checked path.

        A parser takes the answer's root ``Node`` and uses only its accessors;
        whatever shape the answer has, the caller gets the parsed value or an
        ``ExchangeError`` of the right class (see ``parsing``). An empty body
        is an error unless ``allow_empty`` (the parser then gets a null node).
        """
        body = self.send(call)
        place_of = call.client_order_id or "?" if call.kind is CallKind.PLACE else None
        with self.parsing(what, place_of=place_of):
            return parse(Node(None) if body is None and allow_empty else Node.root(body))

    def _require_credentials(self) -> None:
        if not self.config.api_key:
            raise AuthenticationError(
                self.name, "no API credentials configured (admin or environment)"
            )

    @contextlib.contextmanager
    def parsing(self, what: str, *, place_of: str | None = None) -> Iterator[None]:
        """Turn a well-formed but unexpected answer into the right error.

        After a place (``place_of`` = client order id) it is ambiguous: the
        exchange accepted *something*; otherwise it is transient.
        """
        try:
            yield
        except ParseError as exc:
            message = f"unexpected answer to {what}: {exc}"
            logger.warning("%s: %s%s", self.name, message,
                           f" (order {place_of})" if place_of else "")
            if place_of is not None:
                raise AmbiguousOrderError(self.name, message, client_order_id=place_of) from None
            raise UnexpectedAnswerError(self.name, message) from None
        except (
            KeyError, IndexError, TypeError, ValueError, InvalidOperation, AttributeError
        ) as exc:
            # A parser that stepped outside ``Node``: still never a crash.
            message = f"unexpected answer to {what}: {type(exc).__name__}: {exc}"
            logger.warning("%s: %s", self.name, message, exc_info=True)
            if place_of is not None:
                raise AmbiguousOrderError(self.name, message, client_order_id=place_of) from None
            raise UnexpectedAnswerError(self.name, message) from None


def answer_unclear(exc: ExchangeError) -> bool:
    """Did the exchange answer a lookup with something that cannot be
    classified (an undocumented shape, or a refusal that is not the
    documented not-found), rather than not answer at all?"""
    return isinstance(exc, (UnexpectedAnswerError, RejectedError))


def now_utc() -> datetime:
    return datetime.now(tz=UTC)


__all__ = ["AdapterConfig", "CallKind", "ExchangeAdapter", "Call", "utc_from_iso",
           "utc_from_ms", "utc_from_seconds"]
