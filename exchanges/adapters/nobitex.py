"""Nobitex (docs: nobitex/docs-api). Token auth; IRT markets quote in rial.

Wire facts from docs/EXCHANGES.md: order book ``GET /v3/orderbook/{SYMBOL}``
(never /v2: bids and asks swapped), orders under ``/market/orders/…`` naming
currencies in lower case (``btc``/``rls``), errors as HTTP 4xx or HTTP 200
``{"status":"failed","code","message"}``, 429 with ``backOff`` seconds.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from exchanges.errors import NotFoundError, RejectedError
from exchanges.http import Call, CallKind, ErrorInfo
from exchanges.interface import (
    LIST_LOOKBACK_MARGIN_S,
    ExchangeAdapter,
    now_utc,
    utc_from_iso,
    utc_from_ms,
)
from exchanges.markets import MarketSpec, PreparedOrder, decimal_str, to_decimal
from exchanges.ratelimit import BALANCES, BOOK, CANCEL, FILLS, OPEN_ORDERS, PLACE, STATUS
from exchanges.states import OrderState
from exchanges.types import (
    Balance,
    ExchangeOrder,
    Fill,
    OrderBook,
    OrderRef,
    OrdersLookup,
    OrderType,
    Side,
)

from ._common import ZERO, levels

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
_NOT_FOUND_CODES = {"NotFound", "OrderNotFound"}
# Full currency names Nobitex writes in order/trade answers ("Bitcoin"),
# beside the lower-case codes it takes in requests.
_QUOTE_CODES = {"rls": "IRR", "irt": "IRR"}
OPEN_ORDERS_PAGE = 1000
MAX_PAGES = 10
SEARCH_PAGES = 3  # newest first: 3000 recent orders
TRADES_PAGE = 100  # the documented maximum (default 30)
LOOKUP_PAGES = 50  # a batched lookup reads at most 50,000 orders back


def currency_code(asset: str) -> str:
    """Project asset → Nobitex currency (IRR → rls)."""
    return "rls" if asset.upper() == "IRR" else asset.lower()


def project_asset(currency: str) -> str:
    return _QUOTE_CODES.get(currency.lower(), currency.upper())


class NobitexAdapter(ExchangeAdapter):
    kind = "nobitex"
    default_base_url = "https://apiv2.nobitex.ir"

    def auth_headers(self, call: Call) -> dict[str, str]:
        if call.endpoint == BOOK or not self.config.api_key:
            return {}
        return {"Authorization": f"Token {self.config.api_key}"}

    def read_error(self, status: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, dict) and str(body.get("status", "")).lower() == "failed":
            code = str(body.get("code") or "") or None
            message = str(body.get("message") or body.get("detail") or code or "failed")
            back_off = body.get("backOff")
            return ErrorInfo(
                code=code,
                message=message,
                retry_after=float(to_decimal(back_off)) if back_off is not None else None,
                not_found=code in _NOT_FOUND_CODES,
                auth=code in _AUTH_CODES or status in (401, 403),
                rate_limited=code == "TooManyRequests" or status == 429,
            )
        if status >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            return ErrorInfo(code=None, message=str(detail or f"HTTP {status}"))
        return None

    # -- market data -------------------------------------------------------------

    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        spec = self.spec(market)
        body = self.send(Call("GET", f"/v3/orderbook/{spec.symbol}", BOOK, max_wait=max_wait))
        received = now_utc()
        with self.parsing(f"order book {spec.symbol}"):
            return OrderBook(
                exchange=self.name,
                market=spec.market,
                bids=levels(body["bids"], spec.price_scale, descending=True),
                asks=levels(body["asks"], spec.price_scale, descending=False),
                received_at=received,
                exchange_time=utc_from_ms(body.get("lastUpdate")),
            )

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
        }
        if order.exchange_price is not None:
            payload["price"] = decimal_str(order.exchange_price)
        body = self.send(Call(
            "POST", "/market/orders/add", PLACE, CallKind.PLACE, json_body=payload,
            client_order_id=request.client_order_id,
        ))
        with self.parsing("place order", place_of=request.client_order_id):
            return self._order(body["order"], spec=spec, side=request.side, type_=request.type,
                               client_order_id=request.client_order_id)

    def get_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> ExchangeOrder:
        """By id, or by client order id. Nobitex finds a client order id only
        while the order is open [doc]; a filled or cancelled one is then looked
        up in the recent order list, so "not found" stays an explicit answer."""
        payload = _order_ref(exchange_order_id, client_order_id, id_key="id")
        self._require_credentials()
        spec = self.spec(market) if market else None
        try:
            body = self.send(Call("POST", "/market/orders/status", STATUS, json_body=payload,
                                  client_order_id=client_order_id))
        except NotFoundError:
            if exchange_order_id or not client_order_id:
                raise
            found = self._search_closed(client_order_id, spec)
            if found is None:
                raise
            return found
        with self.parsing("order status"):
            return self._order(body["order"], spec=spec)

    def _search_closed(self, client_order_id: str, spec: MarketSpec | None) -> ExchangeOrder | None:
        params: dict[str, str] = {"status": "all", "pageSize": str(OPEN_ORDERS_PAGE)}
        if spec is not None:
            params["srcCurrency"] = currency_code(spec.base)
            params["dstCurrency"] = currency_code(spec.quote)
        for page in range(1, SEARCH_PAGES + 1):
            body = self.send(Call("GET", "/market/orders/list", OPEN_ORDERS,
                                  params={**params, "page": str(page)},
                                  client_order_id=client_order_id))
            with self.parsing("order list"):
                for row in body["orders"]:
                    if row.get("clientOrderId") == client_order_id:
                        return self._order(row, spec=spec)
            if not body.get("hasNext"):
                break
        return None

    def _list_lookup(self, refs: list[OrderRef], *, deadline: float,
                     result: OrdersLookup) -> dict[str, ExchangeOrder]:
        """``/market/orders/list?status=all`` pages (1000 orders each, newest
        first) until every order is seen or the list is older than the oldest."""
        self._require_credentials()
        wanted = {ref.client_order_id for ref in refs}
        by_id = {ref.exchange_order_id: ref.client_order_id for ref in refs
                 if ref.exchange_order_id}
        times = [ref.created_at for ref in refs if ref.created_at is not None]
        oldest = (min(times).timestamp() - LIST_LOOKBACK_MARGIN_S
                  if len(times) == len(refs) else None)
        found: dict[str, ExchangeOrder] = {}
        deadline = max(deadline, time.monotonic() + self.LIST_PATIENCE)
        for page in range(1, LOOKUP_PAGES + 1):
            params = {"status": "all", "pageSize": str(OPEN_ORDERS_PAGE), "page": str(page)}
            result.calls += 1
            body = self.patiently(
                lambda params=params: self.send(Call("GET", "/market/orders/list",
                                                     OPEN_ORDERS, params=params)),
                deadline=deadline)
            with self.parsing("order list"):
                rows = body["orders"]
                for row in rows:
                    client_id = row.get("clientOrderId") or by_id.get(str(row.get("id")))
                    if client_id in wanted:
                        found[client_id] = self._order(row, spec=None)
                last = utc_from_iso(rows[-1].get("created_at")) if rows else None
            if len(found) == len(wanted) or not body.get("hasNext"):
                break
            if oldest is not None and last is not None and last.timestamp() < oldest:
                break
        return found

    def open_orders(self, market: str | None = None) -> list[ExchangeOrder]:
        self._require_credentials()
        params: dict[str, str] = {"status": "open", "pageSize": str(OPEN_ORDERS_PAGE)}
        spec = self.spec(market) if market else None
        if spec is not None:
            params["srcCurrency"] = currency_code(spec.base)
            params["dstCurrency"] = currency_code(spec.quote)
        orders: list[ExchangeOrder] = []
        deadline = time.monotonic() + self.LIST_PATIENCE
        for page in range(1, MAX_PAGES + 1):
            body = self.patiently(
                lambda page=page: self.send(Call("GET", "/market/orders/list", OPEN_ORDERS,
                                                 params={**params, "page": str(page)})),
                deadline=deadline)
            with self.parsing("open orders"):
                orders.extend(self._order(row, spec=spec) for row in body["orders"])
            if not body.get("hasNext"):
                break
        return orders

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
        body = self.send(Call("POST", "/market/orders/update-status", CANCEL, CallKind.CANCEL,
                              json_body=payload, client_order_id=client_order_id))
        logger.info("%s: cancel of order %s answered %s", self.name,
                    client_order_id or exchange_order_id, body.get("updatedStatus"))

    # -- account ---------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        self._require_credentials()
        body = self.send(Call("GET", "/users/wallets/list", BALANCES))
        result: dict[str, Balance] = {}
        with self.parsing("wallets"):
            for row in body["wallets"]:
                asset = project_asset(str(row["currency"]))
                total = to_decimal(row["balance"])
                locked = to_decimal(row.get("blockedBalance") or 0)
                available = to_decimal(row.get("activeBalance", total - locked))
                result[asset] = Balance(asset, total, available, locked)
        return result

    def recent_fills(self, market: str | None = None) -> list[Fill]:
        self._require_credentials()
        params: dict[str, str] = {"pageSize": str(TRADES_PAGE)}
        spec = self.spec(market) if market else None
        if spec is not None:
            params.update(srcCurrency=currency_code(spec.base),
                          dstCurrency=currency_code(spec.quote))
        body = self.send(Call("GET", "/market/trades/list", FILLS, params=params))
        with self.parsing("trades"):
            return [self._fill(row, spec) for row in body["trades"]]

    # -- parsing -----------------------------------------------------------------------

    def _spec_from_market_name(self, name: Any) -> MarketSpec | None:
        """``"BTC-RLS"`` (as Nobitex writes it in answers) → our listing."""
        if not name or "-" not in str(name):
            return None
        base, quote = str(name).upper().split("-", 1)
        return self.markets.get(f"{base}-{project_asset(quote)}")

    def _order(
        self,
        row: dict[str, Any],
        *,
        spec: MarketSpec | None,
        side: Side | None = None,
        type_: OrderType | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        spec = self._spec_from_market_name(row.get("market")) or spec
        scale = spec.price_scale if spec else Decimal("1")
        raw_status = str(row.get("status") or "")
        quantity = to_decimal(row["amount"])
        filled = to_decimal(row.get("matchedAmount") or 0)
        state = _STATES.get(raw_status.lower(), OrderState.UNKNOWN)
        if state is OrderState.OPEN and filled > ZERO:
            state = OrderState.PARTIALLY_FILLED
        price_raw = row.get("price")
        price = (
            to_decimal(price_raw) * scale
            if price_raw not in (None, "", "market") else None
        )
        average_raw = row.get("averagePrice")
        average_price = (
            to_decimal(average_raw) * scale
            if average_raw not in (None, "") and filled > ZERO else None
        )
        side_raw = row.get("type")
        execution = str(row.get("execution") or "").lower()
        return ExchangeOrder(
            exchange=self.name,
            market=spec.market if spec else str(row.get("market") or ""),
            state=state,
            exchange_order_id=str(row["id"]) if row.get("id") is not None else None,
            client_order_id=row.get("clientOrderId") or client_order_id,
            side=Side(side_raw) if side_raw in ("buy", "sell") else side,
            type=(OrderType.MARKET if execution == "market" else
                  OrderType.LIMIT if execution == "limit" else type_),
            price=price,
            quantity=quantity,
            filled_quantity=filled,
            average_price=average_price,
            fee=to_decimal(row.get("fee") or 0),
            # Nobitex takes the fee from what the order receives [?: per the
            # docs' examples]: the base asset on a buy, the quote on a sell.
            fee_asset=_fee_asset(spec, Side(side_raw) if side_raw in ("buy", "sell") else side),
            raw_status=raw_status,
            created_at=utc_from_iso(row.get("created_at")),
        )

    def _fill(self, row: dict[str, Any], spec: MarketSpec | None) -> Fill:
        spec = self._spec_from_market_name(row.get("market")) or spec
        scale = spec.price_scale if spec else Decimal("1")
        side = Side(row["type"]) if row.get("type") in ("buy", "sell") else None
        return Fill(
            trade_id=str(row["id"]),
            market=spec.market if spec else str(row.get("market") or ""),
            side=side,
            price=to_decimal(row["price"]) * scale,
            quantity=to_decimal(row["amount"]),
            fee=to_decimal(row.get("fee") or 0),
            fee_asset=_fee_asset(spec, side) or "",
            timestamp=utc_from_iso(row.get("timestamp")),
            exchange_order_id=str(row["orderId"]) if row.get("orderId") is not None else None,
        )


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
