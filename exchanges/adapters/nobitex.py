"""Nobitex (docs: nobitex/docs-api, ``docusaurus/docs/*.md``). Token auth; IRT markets
quote in rial.

What the docs say, and what this adapter does with it (sections of
``docusaurus/docs/market-trade.md`` unless named otherwise):

- Every request carries ``User-Agent: TraderBot/arbsite`` ("strongly
  recommended", ``intro.md`` "تنظیم User Agent").
- Orders are placed with ``"pro": "yes"``: without it an identical order
  within 10 s is refused with ``DuplicateOrder`` ("سفارش تکراری … غیرفعال در
  حالت Pro"; ``general-notes.md`` "حالت متداول و Pro"); our client order ids
  are unique, which is what Pro mode asks for.
- ``OverValueOrder`` is the insufficient-balance refusal of ``orders/add``.
- Status and place answers carry ``totalPrice`` and ``matchedAmount``; the
  average price is their ratio. Older examples show ``totalPrice`` as the
  order's value (amount × price); the ratio is therefore used only when it is
  possible for the order (a buy's average at most its limit, a sell's at
  least), else ``averagePrice`` when given, else none (the fills tell).
- ``GET /market/orders/list`` returns only type, execution, prices and
  amounts unless ``details=2`` is given, which adds id, status, fee,
  created_at, averagePrice ("فهرست سفارش‌های کاربر"): every list call here
  sends ``details=2``. Rows may or may not carry ``clientOrderId`` (it is in
  the example, not in the field table): both are read.
- Pagination: ``page``/``pageSize`` are 1-100 (``general-notes.md``
  "صفحه‌بندی"); the list's note says up to 1000. ``pageSize`` is the
  ``nobitex-page-size`` variant (100 by default); the list answer has no
  ``hasNext``, so pages are read until a short one. Without ``type`` the
  list is newest first by creation time.
- A lookup by ``clientOrderId`` (status, cancel) searches open orders only
  (notes 3 of both sections): "not found" there proves nothing for an order
  that filled at once. A lost place answer is resolved in the order list
  (``lookup_orders``): matched by id, by client order id where rows carry
  it, else by side, market, amount, price and time; two candidates are
  never guessed between, and "not found" is reported only when every search
  that could find the order answered explicitly that it is not there.
- 429 ``TooManyRequests`` carries ``backOff`` seconds (``general-notes.md``
  "محدودیت فراخوانی").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from exchanges.errors import ExchangeError, NotFoundError, RejectedError, TransientError
from exchanges.http import Call, CallKind, ErrorInfo
from exchanges.interface import (
    LIST_LOOKBACK_MARGIN_S,
    ExchangeAdapter,
    answer_unclear,
    now_utc,
)
from exchanges.markets import MarketSpec, PreparedOrder, decimal_str, round_amount
from exchanges.ratelimit import BALANCES, BOOK, CANCEL, FILLS, OPEN_ORDERS, PLACE, STATUS
from exchanges.states import OrderState
from exchanges.types import (
    Balance,
    ExchangeOrder,
    FeeRate,
    Fill,
    MarketRules,
    OrderBook,
    OrderRef,
    OrdersLookup,
    OrderType,
    Side,
)

from ._common import ZERO, Node, levels, pair

logger = logging.getLogger(__name__)

# Nobitex status → project state. "Active" covers partial fills (read
# matchedAmount); "Canceled" may carry a partial fill; "Inactive" is an
# untriggered stop order and "New" an order not yet in the book: both live.
_STATES = {
    "active": OrderState.OPEN,
    "new": OrderState.OPEN,
    "inactive": OrderState.OPEN,
    "done": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
    "cancelled": OrderState.CANCELLED,
}
_AUTH_CODES = {"InvalidToken", "AuthenticationFailed", "NotAuthenticated", "PermissionDenied"}
_NOT_FOUND_CODES = {"NotFound", "OrderNotFound", "NotFoundError"}
_REASONS = {
    "OverValueOrder": RejectedError.INSUFFICIENT_BALANCE,
    "SmallOrder": RejectedError.SMALL_ORDER,
    "BadPrice": RejectedError.BAD_PRICE,
    "DuplicateOrder": RejectedError.DUPLICATE_ORDER,
    "MarketClosed": RejectedError.MARKET_CLOSED,
}
# How answers name currencies: full names ("Bitcoin", "﷼") in orders and
# trades, lower-case codes in requests.
_CURRENCY_NAMES = {
    "bitcoin": "BTC", "ethereum": "ETH", "tether": "USDT", "litecoin": "LTC",
    "dogecoin": "DOGE", "tron": "TRX", "ripple": "XRP",
    "\ufdfc": "IRR", "ریال": "IRR", "rial": "IRR", "rls": "IRR", "irt": "IRR",
}
MAX_PAGES = 100  # ``page`` is 1-100 (general notes)
# A search with no creation time to stop at reads this many pages at most.
UNBOUNDED_PAGES = 3
TRADES_PAGE = 100  # the documented maximum (default 30)
# A lost-answer order matched by what it was: the exchange's created_at may
# lie this far before (clock skew) or after (a slow place) our own.
FIELD_MATCH_BEFORE_S = 60
FIELD_MATCH_AFTER_S = 120


def currency_code(asset: str) -> str:
    """Project asset → Nobitex currency (IRR → rls)."""
    return "rls" if asset.upper() == "IRR" else asset.lower()


def project_asset(currency: str) -> str:
    """Nobitex currency code or name → project asset (rls → IRR, Bitcoin → BTC)."""
    text = str(currency).strip()
    return _CURRENCY_NAMES.get(text.lower(), text.upper())


class _Unclear(str):
    """Why a lookup cannot tell, where the exchange did answer (an undocumented
    answer, or several listed orders the order could be): for a human."""

    __slots__ = ()


@dataclass
class _Row:
    """One order-list row, parsed, with what matching needs."""

    order: ExchangeOrder
    spec: MarketSpec | None
    created_at: datetime | None
    has_client_id: bool  # the row carries a clientOrderId key (even null)


@dataclass
class _Search:
    """What one market's order-list search saw."""

    rows: list[_Row] = field(default_factory=list)
    complete: bool = False  # every order newer than the bound was listed
    error: str | None = None


class NobitexAdapter(ExchangeAdapter):
    kind = "nobitex"
    default_base_url = "https://apiv2.nobitex.ir"
    user_agent = "TraderBot/arbsite"

    @property
    def page_size(self) -> int:
        return int(self.variant("nobitex-page-size"))

    def auth_headers(self, call: Call) -> dict[str, str]:
        if call.endpoint == BOOK or not self.config.api_key:
            return {}
        return {"Authorization": f"Token {self.config.api_key}"}

    def read_error(self, status: int, body: Any, call: Call) -> ErrorInfo | None:
        if isinstance(body, dict) and str(body.get("status", "")).lower() == "failed":
            code = str(body.get("code") or "") or None
            message = str(body.get("message") or body.get("detail") or code or "failed")
            back_off = body.get("backOff")
            try:
                retry_after = float(Decimal(str(back_off))) if back_off is not None else None
            except ArithmeticError:
                retry_after = None
            return ErrorInfo(
                code=code,
                message=message,
                retry_after=retry_after,
                not_found=call.lookup and code in _NOT_FOUND_CODES,
                auth=code in _AUTH_CODES or status in (401, 403),
                rate_limited=code == "TooManyRequests" or status == 429,
                reason=_REASONS.get(code or ""),
                duplicate_id=code == "DuplicateClientOrderId",
            )
        if status >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            # Django REST framework's own 404 ({"detail": "Not found."}) to a
            # lookup of one order, or (variant "empty") an empty 404.
            drf_not_found = isinstance(detail, str) and detail.strip(". ").lower() == "not found"
            empty = (body is None and self.variant("nobitex-not-found") == "empty"
                     and isinstance(call.json_body, dict) and "clientOrderId" in call.json_body)
            return ErrorInfo(code=None, message=str(detail or f"HTTP {status}"),
                             not_found=call.lookup and status == 404 and (drf_not_found or empty))
        return None

    # -- market data -------------------------------------------------------------

    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        spec = self.spec(market)

        def parse(root: Node) -> OrderBook:
            return OrderBook(
                exchange=self.name,
                market=spec.market,
                bids=levels((pair(n) for n in root["bids"].list()), spec.price_scale,
                            descending=True),
                asks=levels((pair(n) for n in root["asks"].list()), spec.price_scale,
                            descending=False),
                received_at=now_utc(),
                exchange_time=root.get("lastUpdate").ms_time(),
            )

        return self.fetch(Call("GET", f"/v3/orderbook/{spec.symbol}", BOOK, max_wait=max_wait),
                          f"order book {spec.symbol}", parse)

    def market_rules(self) -> dict[str, MarketRules]:
        """``GET /v2/options``: ``nobitex.amountPrecisions``, ``pricePrecisions`` and
        ``minOrders`` (by quote currency) [doc: ``other.md`` "تنظیمات سیستم"]."""

        def parse(root: Node) -> dict[str, MarketRules]:
            options = root["nobitex"]
            steps = dict(options["amountPrecisions"].items())
            ticks = dict(options["pricePrecisions"].items())
            minimums = dict(options["minOrders"].items()) if options.has("minOrders") else {}
            rules: dict[str, MarketRules] = {}
            for symbol in sorted(set(steps) | set(ticks)):
                spec = self.spec_for_symbol(symbol)
                scale = spec.price_scale if spec else Decimal("1")
                quote = "rls" if symbol.upper().endswith("IRT") else (
                    "usdt" if symbol.upper().endswith("USDT") else None)
                minimum = minimums[quote].decimal() if quote in minimums else None
                tick = ticks[symbol].decimal() if symbol in ticks else None
                rules[symbol] = MarketRules(
                    exchange=self.name, symbol=symbol, market=spec.market if spec else None,
                    amount_step=steps[symbol].decimal() if symbol in steps else None,
                    price_tick=tick * scale if tick is not None else None,
                    min_order_value=minimum * scale if minimum is not None else None,
                )
            return rules

        return self.fetch(Call("GET", "/v2/options", BOOK), "options", parse)

    def fee_rates(self) -> dict[str, FeeRate]:
        """The profile's ``options.fee`` (rial markets) and ``feeUsdt`` (USDT markets)
        [doc: ``user-data.md`` "پروفایل": "فی تراکنش، فی مبادلات usdt"]. Read as
        percentages [?: the docs give no unit; 0.35 and 0.2 in the example] and as
        the taker rate: the profile gives one figure per quote, the rate an order
        that takes liquidity pays; no maker rate is given (None)."""
        self._require_credentials()

        def parse(root: Node) -> dict[str, FeeRate]:
            options = root["profile"]["options"]
            by_quote = {"IRR": options["fee"].decimal(),
                        "USDT": options.get("feeUsdt").opt_decimal()}
            rates: dict[str, FeeRate] = {}
            for spec in self.markets.values():
                percent = by_quote.get(spec.quote)
                if percent is None:
                    continue
                rate = percent / 100
                rates[spec.symbol] = FeeRate(self.name, spec.symbol, spec.market, None, rate)
            return rates

        return self.fetch(Call("GET", "/users/profile", BALANCES), "profile", parse)

    # -- orders --------------------------------------------------------------------

    def _place(self, order: PreparedOrder) -> ExchangeOrder:
        request, spec = order.request, order.spec
        payload: dict[str, str] = {
            "type": request.side.value,
            "execution": request.type.value,
            "srcCurrency": currency_code(spec.base),
            "dstCurrency": currency_code(spec.quote),
            "amount": decimal_str(order.quantity),
            "clientOrderId": request.client_order_id,
            "pro": "yes",
        }
        if order.exchange_price is not None:
            payload["price"] = decimal_str(order.exchange_price)
        return self.fetch(
            Call("POST", "/market/orders/add", PLACE, CallKind.PLACE, json_body=payload,
                 client_order_id=request.client_order_id),
            "place order",
            lambda root: self._order(root["order"], spec=spec, side=request.side,
                                     type_=request.type, client_order_id=request.client_order_id),
        )

    def _status(self, payload: dict[str, Any], *, spec: MarketSpec | None,
                client_order_id: str | None, max_wait: float | None = None) -> ExchangeOrder:
        """``POST /market/orders/status``; ``NotFoundError`` on an explicit not-found."""

        # Only the lookup by client order id has an undocumented not-found answer.
        empty_is_not_found = (self.variant("nobitex-not-found") == "empty"
                              and "clientOrderId" in payload)

        def parse(root: Node) -> ExchangeOrder:
            if empty_is_not_found and (root.is_null() or root.get("order").is_null()):
                raise NotFoundError(self.name, "order status: an empty answer (not among the "
                                               "open orders, variant nobitex-not-found=empty)")
            return self._order(root["order"], spec=spec, client_order_id=client_order_id)

        return self.fetch(Call("POST", "/market/orders/status", STATUS, json_body=payload,
                               client_order_id=client_order_id, lookup=True, max_wait=max_wait),
                          "order status", parse, allow_empty=empty_is_not_found)

    def get_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> ExchangeOrder:
        """By id (any order), or by client order id. Nobitex finds a client order
        id only while the order is open; otherwise the order list settles it:
        the order, ``NotFoundError`` when the list shows it is not there, or a
        ``TransientError`` when neither can say."""
        self._require_credentials()
        spec = self.spec(market) if market else None
        payload = _order_ref(exchange_order_id, client_order_id, id_key="id")
        if exchange_order_id or not client_order_id:
            return self._status(payload, spec=spec, client_order_id=client_order_id)
        lookup = self.lookup_orders([OrderRef(client_order_id=client_order_id, market=market)],
                                    patience=0.0)
        return _one(self.name, lookup, client_order_id)

    def find_order(self, client_order_id: str, market: str | None = None, *,
                   ref: OrderRef | None = None) -> ExchangeOrder | None:
        ref = ref or OrderRef(client_order_id=client_order_id, market=market)
        try:
            return _one(self.name, self.lookup_orders([ref]), client_order_id)
        except NotFoundError:
            return None

    def lookup_orders(self, refs: list[OrderRef], *, patience: float = 0.0,
                      known_exchange_ids: Collection[str] | None = None) -> OrdersLookup:
        """Orders by id where known (any state), else by client order id among open
        orders, then the order list (``details=2``, newest first, back to the
        oldest order's creation) for the rest.

        A ref lands in ``not_found`` only when every search that could find it
        answered that it is not there: the status lookup by client order id
        explicitly, and the order list completely over its time window; in
        ``errors`` when any search could not answer, or when the list holds
        more than one order it could be.
        """
        result = OrdersLookup()
        if not refs:
            return result
        self._require_credentials()
        deadline = time.monotonic() + max(patience, 0.0)
        open_lookup: dict[str, str | None] = {}  # client id → None (explicitly not open) | error
        for ref in refs:
            if ref.exchange_order_id:
                continue
            try:
                result.calls += 1
                result.found[ref.client_order_id] = self.patiently(
                    lambda ref=ref: self._status({"clientOrderId": ref.client_order_id},
                                                 spec=self._spec_or_none(ref.market),
                                                 client_order_id=ref.client_order_id),
                    deadline=deadline)
            except NotFoundError:
                open_lookup[ref.client_order_id] = None
            except ExchangeError as exc:
                open_lookup[ref.client_order_id] = (_Unclear(exc) if answer_unclear(exc)
                                                    else str(exc))
        with_id = [r for r in refs if r.exchange_order_id]
        listed = [r for r in refs if not r.exchange_order_id
                  and r.client_order_id not in result.found]
        if len(with_id) >= 3:  # one list page is cheaper than three status calls
            listed += with_id
        claimed = {str(r.exchange_order_id) for r in refs if r.exchange_order_id}
        adopt_by_fields = known_exchange_ids is not None
        claimed |= {str(i) for i in known_exchange_ids or ()}
        outcomes = (self._search_lists(listed, deadline=deadline, result=result, claimed=claimed,
                                       adopt_by_fields=adopt_by_fields) if listed else {})
        for ref in with_id:
            outcome = outcomes.get(ref.client_order_id)
            if isinstance(outcome, ExchangeOrder):
                result.found[ref.client_order_id] = outcome
                continue
            try:  # by id: an authoritative answer in every state
                result.calls += 1
                result.found[ref.client_order_id] = self.patiently(
                    lambda ref=ref: self._status(
                        _order_ref(ref.exchange_order_id, None, id_key="id"),
                        spec=self._spec_or_none(ref.market), client_order_id=ref.client_order_id),
                    deadline=deadline)
            except NotFoundError:
                result.not_found.add(ref.client_order_id)
            except ExchangeError as exc:
                result.errors[ref.client_order_id] = str(exc)
                if answer_unclear(exc):
                    result.unclear.add(ref.client_order_id)
        for ref in refs:
            cid = ref.client_order_id
            if ref.exchange_order_id or cid in result.found:
                continue
            outcome = outcomes.get(cid, "not searched")
            if isinstance(outcome, ExchangeOrder):
                result.found[cid] = outcome
            elif outcome is None and open_lookup.get(cid, "not asked") is None:
                result.not_found.add(cid)
            elif outcome is None:
                asked = open_lookup.get(cid)
                result.errors[cid] = ("not in the order list, but the lookup among open orders "
                                      f"did not answer: {asked}")
                if isinstance(asked, _Unclear):
                    result.unclear.add(cid)
            else:
                result.errors[cid] = str(outcome)
                if isinstance(outcome, _Unclear):
                    result.unclear.add(cid)
        if result.errors:
            logger.warning("%s: order lookup left %d order(s) unresolved: %s", self.name,
                           len(result.errors), "; ".join(f"{k}: {v}" for k, v in
                                                         result.errors.items()))
        return result

    def _spec_or_none(self, market: str | None) -> MarketSpec | None:
        if not market:
            return None
        try:
            return self.spec(market)
        except ValueError:
            return None

    def _search_lists(self, refs: list[OrderRef], *, deadline: float, result: OrdersLookup,
                      claimed: set[str], adopt_by_fields: bool
                      ) -> dict[str, ExchangeOrder | str | None]:
        """Each ref's outcome in the order list: the order, None (provably not
        there) or the reason it cannot be told."""
        groups: dict[str | None, list[OrderRef]] = {}
        for ref in refs:
            spec = self._spec_or_none(ref.market)
            groups.setdefault(spec.market if spec else None, []).append(ref)
        if None in groups and len(groups) > 1:  # one listing of every market covers all
            groups = {None: refs}
        outcomes: dict[str, ExchangeOrder | str | None] = {}
        for market, group in groups.items():
            search = self._list_back(market, group, deadline=deadline, result=result)
            for ref in group:
                outcomes[ref.client_order_id] = self._match(ref, search, claimed, group,
                                                            adopt_by_fields=adopt_by_fields)
        # One listed order matched by what it was to two lost-answer orders (twins:
        # same side, amount, price and minute): neither can be told.
        taken: dict[str, list[str]] = {}
        for client_id, outcome in outcomes.items():
            if isinstance(outcome, ExchangeOrder) and outcome.exchange_order_id:
                taken.setdefault(str(outcome.exchange_order_id), []).append(client_id)
        for exchange_id, client_ids in taken.items():
            if len(client_ids) > 1:
                for client_id in client_ids:
                    outcomes[client_id] = _Unclear(
                        f"order {exchange_id} could be any of {', '.join(sorted(client_ids))}: "
                        "refusing to guess")
        return outcomes

    def _list_back(self, market: str | None, refs: list[OrderRef], *, deadline: float,
                   result: OrdersLookup) -> _Search:
        """``GET /market/orders/list?status=all&details=2``, newest first, until the
        rows are older than the oldest ref (less a margin) or the list ends."""
        spec = self.spec(market) if market else None
        times = [r.created_at for r in refs if r.created_at is not None]
        bound = (min(times) - timedelta(seconds=LIST_LOOKBACK_MARGIN_S)
                 if len(times) == len(refs) else None)
        params: dict[str, str] = {"status": "all", "details": "2",
                                  "pageSize": str(self.page_size)}
        if spec is not None:
            params.update(srcCurrency=currency_code(spec.base),
                          dstCurrency=currency_code(spec.quote))
        search = _Search()
        list_deadline = max(deadline, time.monotonic() + self.LIST_PATIENCE)
        pages = MAX_PAGES if bound is not None else UNBOUNDED_PAGES
        for page in range(1, pages + 1):
            try:
                result.calls += 1
                rows, more = self.patiently(
                    lambda page=page: self._list_page({**params, "page": str(page)}, spec),
                    deadline=list_deadline)
            except ExchangeError as exc:
                search.error = f"order list page {page}: {exc}"
                if answer_unclear(exc):
                    search.error = _Unclear(search.error)
                return search
            search.rows.extend(rows)
            if not more:
                search.complete = True
                return search
            oldest = [r.created_at for r in rows if r.created_at is not None]
            if bound is not None and oldest and min(oldest) < bound:
                search.complete = True
                return search
        search.error = (f"order list longer than {pages} pages"
                        f"{'' if bound is not None else ' and no creation time to stop at'}: "
                        "search stopped")
        return search

    def _list_page(self, params: dict[str, str],
                   spec: MarketSpec | None) -> tuple[list[_Row], bool]:
        """One page of the order list: its rows and whether more may follow."""

        def parse(root: Node) -> tuple[list[_Row], bool]:
            rows = []
            for node in root["orders"].list():
                # details=2 adds id, status, fee, created_at, averagePrice (the
                # docs' own example row lacks created_at: it is not required).
                if not all(node.has(key) for key in ("id", "status")):
                    raise node.fail("order-list row without the details=2 fields (id, status)")
                row_spec = self._row_spec(node) or spec
                rows.append(_Row(order=self._order(node, spec=row_spec), spec=row_spec,
                                 created_at=node.get("created_at").iso_time(),
                                 has_client_id=node.has("clientOrderId")))
            has_next = root.get("hasNext").boolean()
            more = has_next if has_next is not None else len(rows) >= int(params["pageSize"])
            return rows, more

        return self.fetch(Call("GET", "/market/orders/list", OPEN_ORDERS, params=params),
                          "order list", parse)

    def _match(self, ref: OrderRef, search: _Search, claimed_ids: set[str],
               group: list[OrderRef], *, adopt_by_fields: bool) -> ExchangeOrder | str | None:
        if search.error:
            return search.error
        for row in search.rows:  # by the exchange's id: certain
            if ref.exchange_order_id and row.order.exchange_order_id == ref.exchange_order_id:
                return _named(row.order, ref)
        by_client = {row.order.exchange_order_id: row for row in search.rows
                     if row.order.client_order_id == ref.client_order_id}
        if len(by_client) == 1:
            return next(iter(by_client.values())).order
        if len(by_client) > 1:
            return _Unclear(f"{len(by_client)} orders carry client order id "
                            f"{ref.client_order_id} (ids "
                            f"{', '.join(sorted(str(i) for i in by_client))}): refusing to guess")
        if ref.exchange_order_id:
            return None if search.complete else "order list incomplete"
        others = {r.client_order_id for r in group if r is not ref}
        candidates = [row for row in search.rows
                      if not row.has_client_id  # rows naming a client id were matched above
                      and row.order.exchange_order_id not in claimed_ids
                      and row.order.client_order_id not in others
                      and self._could_be(ref, row)]
        if not candidates:
            if search.complete:
                return None
            return "order list incomplete"
        ids = ", ".join(str(row.order.exchange_order_id) for row in candidates)
        if len(candidates) > 1:
            return _Unclear(f"{len(candidates)} orders in the list could be "
                            f"{ref.client_order_id} (ids {ids}): refusing to guess")
        row = candidates[0].order
        missing = [name for name, value in (("side", ref.side), ("quantity", ref.quantity),
                                            ("creation time", ref.created_at),
                                            ("listed creation time", candidates[0].created_at))
                   if value is None]
        if row.price is not None and ref.price is None:
            missing.append("price")
        if not adopt_by_fields:
            missing.append("set of orders known here (known_exchange_ids)")
        if missing:
            return _Unclear(f"order {ids} could be {ref.client_order_id} but its "
                            f"{', '.join(missing)} is not known: refusing to guess")
        logger.info("%s: order %s matched to list row %s by side, market, amount, price "
                    "and time", self.name, ref.client_order_id, ids)
        return _named(row, ref)

    def _could_be(self, ref: OrderRef, row: _Row) -> bool:
        """Could this list row (no client order id) be ``ref``? Only a known
        mismatch excludes it."""
        order = row.order
        spec = self._spec_or_none(ref.market)
        if ref.created_at is not None and row.created_at is not None:  # else: cannot exclude
            earliest = ref.created_at - timedelta(seconds=FIELD_MATCH_BEFORE_S)
            latest = ref.created_at + timedelta(seconds=FIELD_MATCH_AFTER_S)
            if not earliest <= row.created_at <= latest:
                return False
        if spec is not None and row.spec is not None and row.spec.market != spec.market:
            return False
        if ref.side is not None and order.side is not None and order.side is not ref.side:
            return False
        if ref.quantity is not None and order.quantity is not None:
            wanted = {ref.quantity}
            if spec is not None:
                wanted.add(round_amount(spec, ref.quantity))
            if order.quantity not in wanted:
                return False
        if ref.price is not None and order.price is not None and spec is not None:
            tick = spec.price_tick
            if abs(order.price - ref.price) >= tick:  # rounding moves it less than a tick
                return False
        return True

    def open_orders(self, market: str | None = None) -> list[ExchangeOrder]:
        self._require_credentials()
        spec = self.spec(market) if market else None
        params: dict[str, str] = {"status": "open", "details": "2",
                                  "pageSize": str(self.page_size)}
        if spec is not None:
            params["srcCurrency"] = currency_code(spec.base)
            params["dstCurrency"] = currency_code(spec.quote)
        orders: dict[str, ExchangeOrder] = {}
        deadline = time.monotonic() + self.LIST_PATIENCE
        for page in range(1, MAX_PAGES + 1):
            rows, more = self.patiently(
                lambda page=page: self._list_page({**params, "page": str(page)}, spec),
                deadline=deadline)
            for row in rows:
                orders.setdefault(str(row.order.exchange_order_id), row.order)
            if not more:
                return list(orders.values())
        raise TransientError(self.name, f"open orders: more than {MAX_PAGES} pages")

    def cancel_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> None:
        payload = _order_ref(exchange_order_id, client_order_id, id_key="order")
        payload["status"] = "canceled"
        self._require_credentials()

        def parse(root: Node) -> str:
            if str(root["status"].text()).lower() != "ok":
                raise root["status"].fail("expected ok")
            return root.get("updatedStatus").opt_text() or "?"

        updated = self.fetch(Call("POST", "/market/orders/update-status", CANCEL, CallKind.CANCEL,
                                  json_body=payload, client_order_id=client_order_id,
                                  lookup=True), "cancel", parse)
        logger.info("%s: cancel of order %s answered %s", self.name,
                    client_order_id or exchange_order_id, updated)

    # -- account ---------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        self._require_credentials()

        def parse(root: Node) -> dict[str, Balance]:
            result: dict[str, Balance] = {}
            for row in root["wallets"].list():
                asset = project_asset(row["currency"].text())
                total = row["balance"].decimal()
                locked = row.get("blockedBalance").opt_decimal() or ZERO
                available = row.get("activeBalance").opt_decimal()
                result[asset] = Balance(asset, total,
                                        total - locked if available is None else available, locked)
            return result

        return self.fetch(Call("GET", "/users/wallets/list", BALANCES), "wallets", parse)

    def recent_fills(self, market: str | None = None) -> list[Fill]:
        self._require_credentials()
        params: dict[str, str] = {"pageSize": str(TRADES_PAGE)}
        spec = self.spec(market) if market else None
        if spec is not None:
            params.update(srcCurrency=currency_code(spec.base),
                          dstCurrency=currency_code(spec.quote))
        return self.fetch(Call("GET", "/market/trades/list", FILLS, params=params), "trades",
                          lambda root: [self._fill(row, spec) for row in root["trades"].list()])

    # -- parsing -----------------------------------------------------------------------

    def _row_spec(self, row: Node) -> MarketSpec | None:
        """The listing an answer row is of: its ``market`` ("BTC-RLS"), else its
        currency names ("Bitcoin", "﷼")."""
        name = row.get("market").opt_text() if row.has("market") else None
        if name and "-" in name:
            base, quote = name.upper().split("-", 1)
            spec = self.markets.get(f"{project_asset(base)}-{project_asset(quote)}")
            if spec is not None:
                return spec
        src = row.get("srcCurrency").opt_text() if row.has("srcCurrency") else None
        dst = row.get("dstCurrency").opt_text() if row.has("dstCurrency") else None
        if src and dst:
            return self.markets.get(f"{project_asset(src)}-{project_asset(dst)}")
        return None

    def _order(
        self,
        row: Node,
        *,
        spec: MarketSpec | None,
        side: Side | None = None,
        type_: OrderType | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        row.obj()
        spec = self._row_spec(row) or spec
        scale = spec.price_scale if spec else Decimal("1")
        raw_status = row.get("status").opt_text() or ""
        quantity = row["amount"].decimal()
        filled = row.get("matchedAmount").opt_decimal() or ZERO
        state = _STATES.get(raw_status.lower(), OrderState.UNKNOWN)
        if state is OrderState.OPEN and filled > ZERO:
            state = OrderState.PARTIALLY_FILLED
        price_node = row.get("price")
        price = (price_node.decimal() * scale
                 if price_node.value not in (None, "", "market") else None)
        side_raw = (row.get("type").opt_text() or "").lower()
        side = Side(side_raw) if side_raw in ("buy", "sell") else side
        execution = (row.get("execution").opt_text() or "").lower()
        order_type = (OrderType.MARKET if execution == "market" else
                      OrderType.LIMIT if execution == "limit" else type_)
        order_id = row.get("id").opt_text()
        return ExchangeOrder(
            exchange=self.name,
            market=spec.market if spec else (row.get("market").opt_text() or ""),
            state=state,
            exchange_order_id=order_id,
            client_order_id=row.get("clientOrderId").opt_text() or client_order_id,
            side=side,
            type=order_type,
            price=price,
            quantity=quantity,
            filled_quantity=filled,
            average_price=_average(row, filled, scale, price, side,
                                   total_is_executed=self.variant("nobitex-total-price")
                                   == "matched"),
            fee=row.get("fee").opt_decimal() or ZERO,
            # Taken from what the order receives [doc: both examples]: the base
            # asset on a buy, the quote on a sell.
            fee_asset=_fee_asset(spec, side),
            raw_status=raw_status,
            created_at=row.get("created_at").iso_time(),
        )

    def _fill(self, row: Node, spec: MarketSpec | None) -> Fill:
        spec = self._row_spec(row) or spec
        scale = spec.price_scale if spec else Decimal("1")
        side_raw = (row.get("type").opt_text() or "").lower()
        side = Side(side_raw) if side_raw in ("buy", "sell") else None
        return Fill(
            trade_id=row["id"].text(),
            market=spec.market if spec else (row.get("market").opt_text() or ""),
            side=side,
            price=row["price"].decimal() * scale,
            quantity=row["amount"].decimal(),
            fee=row.get("fee").opt_decimal() or ZERO,
            fee_asset=_fee_asset(spec, side) or "",
            timestamp=row.get("timestamp").iso_time(),
            exchange_order_id=row.get("orderId").opt_text(),
        )


def _average(row: Node, filled: Decimal, scale: Decimal, price: Decimal | None,
             side: Side | None, *, total_is_executed: bool = True) -> Decimal | None:
    """``totalPrice / matchedAmount`` where that is possible for the order (and
    ``totalPrice`` is the executed value: variant ``nobitex-total-price``),
    else ``averagePrice`` (list rows), else None (the fills tell)."""
    if filled <= ZERO:
        return None
    total = row.get("totalPrice").opt_decimal() if total_is_executed else None
    if total is not None and total > ZERO:
        average = total / filled * scale
        impossible = price is not None and side is not None and (
            (side is Side.BUY and average > price) or (side is Side.SELL and average < price))
        if not impossible:
            return average
    given = row.get("averagePrice").opt_decimal()
    return given * scale if given is not None and given > ZERO else None


def _named(order: ExchangeOrder, ref: OrderRef) -> ExchangeOrder:
    """A list row found for ``ref``, under its client order id when the row names none."""
    return order if order.client_order_id else replace(order, client_order_id=ref.client_order_id)


def _fee_asset(spec: MarketSpec | None, side: Side | None) -> str | None:
    if spec is None or side is None:
        return None
    return spec.base if side is Side.BUY else spec.quote


def _order_ref(
    exchange_order_id: str | None, client_order_id: str | None, *, id_key: str
) -> dict[str, Any]:
    if exchange_order_id:
        try:
            return {id_key: int(exchange_order_id)}
        except ValueError:
            raise RejectedError("nobitex", f"order id {exchange_order_id!r} is not a number",
                                code="LocalBadOrderId") from None
    if client_order_id:
        return {"clientOrderId": client_order_id}
    raise ValueError("give exchange_order_id or client_order_id")


def _one(exchange: str, lookup: OrdersLookup, client_order_id: str) -> ExchangeOrder:
    """The single order of a one-ref lookup, or the error that says why not."""
    if client_order_id in lookup.found:
        return lookup.found[client_order_id]
    if client_order_id in lookup.not_found:
        raise NotFoundError(exchange, f"order {client_order_id}: not among the open orders, "
                                      "and not in the order list")
    raise TransientError(exchange, f"order {client_order_id} could not be looked up: "
                                   f"{lookup.errors.get(client_order_id, 'no answer')}")
