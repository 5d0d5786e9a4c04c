"""Wallex (docs: api-docs.wallex.ir 2022, developers.wallex.ir). ``X-API-Key`` auth.

TMN markets quote in TOMAN: the market specs carry ``price_scale = 10`` and
every price crossing this module is converted (toman × 10 = rial coming in,
rial ÷ 10 going out); TMN balances and fees come back as IRR in rial.
Orders are known by client order id only, so that id is also the
``exchange_order_id``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from exchanges.http import Call, CallKind, ErrorInfo
from exchanges.interface import ExchangeAdapter, now_utc, utc_from_iso, utc_from_seconds
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
    synthetic_trade_id,
)

from ._common import ZERO, levels

logger = logging.getLogger(__name__)

TOMAN = "TMN"
TOMAN_IN_RIAL = Decimal("10")

# Statuses seen: NEW, FILLED, CANCELED; a partial fill shows in executedQty
# [?], and some editions say PARTIALLY_FILLED: both are read.
_STATES = {
    "new": OrderState.OPEN,
    "partially_filled": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
    "cancelled": OrderState.CANCELLED,
    "rejected": OrderState.REJECTED,
    "expired": OrderState.EXPIRED,
}
# Error codes are not documented [?]; these are the ones meaning "no such order".
_NOT_FOUND_CODES = {"OrderNotFound"}


def project_asset(asset: str) -> str:
    return "IRR" if asset.upper() == TOMAN else asset.upper()


def to_rial(asset: str, amount: Decimal) -> Decimal:
    """Wallex amounts of TMN are toman: ×10 to rial; other assets unchanged."""
    return amount * TOMAN_IN_RIAL if asset.upper() == TOMAN else amount


class WallexAdapter(ExchangeAdapter):
    kind = "wallex"
    default_base_url = "https://api.wallex.ir"

    def auth_headers(self, call: Call) -> dict[str, str]:
        if call.endpoint == BOOK or not self.config.api_key:
            return {}
        return {"X-API-Key": self.config.api_key}

    def read_error(self, status: int, body: Any) -> ErrorInfo | None:
        if isinstance(body, dict) and body.get("success") is False:
            code = str(body.get("code") or "") or None
            message = str(body.get("message") or code or "request failed")
            if isinstance(body.get("result"), dict) and body["result"]:
                message += f" {body['result']}"  # field errors, when given
            return ErrorInfo(
                code=code, message=message,
                not_found=code in _NOT_FOUND_CODES,
                auth=status in (401, 403),
                rate_limited=status == 429,
            )
        if status >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            return ErrorInfo(code=None, message=str(message or f"HTTP {status}"))
        return None

    # -- market data -------------------------------------------------------------

    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        spec = self.spec(market)
        body = self.send(Call("GET", "/v1/depth", BOOK, params={"symbol": spec.symbol},
                              max_wait=max_wait))
        received = now_utc()  # Wallex gives no timestamp
        with self.parsing(f"depth {spec.symbol}"):
            result = body["result"]
            return OrderBook(
                exchange=self.name,
                market=spec.market,
                bids=levels(_rows(result["bid"]), spec.price_scale, descending=True),
                asks=levels(_rows(result["ask"]), spec.price_scale, descending=False),
                received_at=received,
            )

    # -- orders --------------------------------------------------------------------

    def _place(self, order: PreparedOrder) -> ExchangeOrder:
        request, spec = order.request, order.spec
        payload: dict[str, str] = {
            "symbol": spec.symbol,
            "type": request.type.value.upper(),
            "side": request.side.value.upper(),
            "quantity": decimal_str(order.quantity),
            "client_id": request.client_order_id,
        }
        if order.exchange_price is not None:
            payload["price"] = decimal_str(order.exchange_price)  # toman on TMN markets
        body = self.send(Call("POST", "/v1/account/orders", PLACE, CallKind.PLACE,
                              json_body=payload, client_order_id=request.client_order_id))
        with self.parsing("place order", place_of=request.client_order_id):
            return self._order(body["result"], spec=spec)

    def get_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> ExchangeOrder:
        order_id = client_order_id or exchange_order_id
        if not order_id:
            raise ValueError("give exchange_order_id or client_order_id")
        self._require_credentials()
        body = self.send(Call("GET", f"/v1/account/orders/{quote(order_id, safe='')}", STATUS,
                              client_order_id=order_id))
        with self.parsing("order status"):
            return self._order(body["result"], spec=self.spec(market) if market else None)

    def _list_lookup(self, refs: list[OrderRef], *, deadline: float,
                     result: OrdersLookup) -> dict[str, ExchangeOrder]:
        """Wallex has no order history to list, but its trade list names each
        fill's client order id: an order whose fills add up to its whole
        quantity is filled, whatever else is true of it. The others (cancelled,
        partly filled, never placed) are asked about one by one."""
        wanted = {ref.client_order_id: ref for ref in refs if ref.quantity}
        if not wanted:
            return {}
        result.calls += 1
        fills = self.patiently(self.recent_fills, deadline=deadline)
        by_order: dict[str, list[Fill]] = defaultdict(list)
        for fill in fills:
            if fill.client_order_id in wanted:
                by_order[fill.client_order_id].append(fill)
        found: dict[str, ExchangeOrder] = {}
        for client_id, order_fills in by_order.items():
            ref = wanted[client_id]
            filled = sum((f.quantity for f in order_fills), ZERO)
            if filled != ref.quantity:
                continue
            found[client_id] = ExchangeOrder(
                exchange=self.name, market=order_fills[0].market, state=OrderState.FILLED,
                exchange_order_id=client_id, client_order_id=client_id,
                side=order_fills[0].side, type=None, price=None, quantity=ref.quantity,
                filled_quantity=filled,
                average_price=sum((f.price * f.quantity for f in order_fills), ZERO) / filled,
                fee=sum((f.fee for f in order_fills), ZERO), fee_asset=order_fills[0].fee_asset,
                fills=tuple(order_fills), raw_status="FILLED (from its trades)",
            )
        return found

    def open_orders(self, market: str | None = None) -> list[ExchangeOrder]:
        self._require_credentials()
        spec = self.spec(market) if market else None
        params = {"symbol": spec.symbol} if spec else None
        body = self.send(Call("GET", "/v1/account/openOrders", OPEN_ORDERS, params=params))
        with self.parsing("open orders"):
            result = body["result"]
            rows = result["orders"] if isinstance(result, dict) else result
            return [self._order(row, spec=spec) for row in rows]

    def cancel_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> None:
        order_id = client_order_id or exchange_order_id
        if not order_id:
            raise ValueError("give exchange_order_id or client_order_id")
        self._require_credentials()
        # One edition takes clientOrderId in the body, another in the query [?]:
        # send it in both, which either reading accepts.
        self.send(Call("DELETE", "/v1/account/orders", CANCEL, CallKind.CANCEL,
                       params={"clientOrderId": order_id},
                       json_body={"clientOrderId": order_id}, client_order_id=order_id))
        logger.info("%s: cancel of order %s accepted", self.name, order_id)

    # -- account ---------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        self._require_credentials()
        body = self.send(Call("GET", "/v1/account/balances", BALANCES))
        result: dict[str, Balance] = {}
        with self.parsing("balances"):
            for key, row in body["result"]["balances"].items():
                wallex_asset = str(row.get("asset") or key)
                total = to_rial(wallex_asset, to_decimal(row["value"]))
                locked = to_rial(wallex_asset, to_decimal(row.get("locked") or 0))
                asset = project_asset(wallex_asset)
                result[asset] = Balance(asset, total, total - locked, locked)
        return result

    def recent_fills(self, market: str | None = None) -> list[Fill]:
        """``GET /v1/account/trades`` (Wallex's "account latest trades")."""
        self._require_credentials()
        spec = self.spec(market) if market else None
        params = {"symbol": spec.symbol} if spec else None
        body = self.send(Call("GET", "/v1/account/trades", FILLS, params=params))
        with self.parsing("trades"):
            rows = body["result"]["AccountLatestTrades"]
            return [self._fill(row, spec=spec) for row in rows]

    # -- parsing -----------------------------------------------------------------------

    def _order(self, row: dict[str, Any], *, spec: MarketSpec | None) -> ExchangeOrder:
        spec = self.spec_for_symbol(row.get("symbol") or "") or spec
        scale = spec.price_scale if spec else Decimal("1")
        raw_status = str(row.get("status") or "")
        quantity = to_decimal(row["origQty"])
        filled = to_decimal(row.get("executedQty") or 0)
        state = _STATES.get(raw_status.lower(), OrderState.UNKNOWN)
        if state is OrderState.OPEN and filled > ZERO:
            state = OrderState.PARTIALLY_FILLED
        if state is OrderState.UNKNOWN and row.get("active") is True:
            state = OrderState.PARTIALLY_FILLED if filled > ZERO else OrderState.OPEN
        order_type = str(row.get("type") or "").lower()
        side = str(row.get("side") or "").lower()
        fills = tuple(self._fill(f, spec=spec, client_order_id=row.get("clientOrderId"))
                      for f in row.get("fills") or ())
        price_raw = row.get("price")
        average_raw = row.get("executedPrice")
        fee = sum((f.fee for f in fills), ZERO) if fills else None
        return ExchangeOrder(
            exchange=self.name,
            market=spec.market if spec else str(row.get("symbol") or ""),
            state=state,
            exchange_order_id=row.get("clientOrderId"),
            client_order_id=row.get("clientOrderId"),
            side=Side(side) if side in ("buy", "sell") else None,
            type=OrderType(order_type) if order_type in ("limit", "market") else None,
            price=to_decimal(price_raw) * scale if price_raw not in (None, "") else None,
            quantity=quantity,
            filled_quantity=filled,
            average_price=(to_decimal(average_raw) * scale
                           if average_raw not in (None, "") and filled > ZERO else None),
            fee=fee,
            fee_asset=fills[0].fee_asset if fills else None,
            fills=fills,
            raw_status=raw_status,
            created_at=utc_from_seconds(row.get("transactTime")),
        )

    def _fill(
        self, row: dict[str, Any], *, spec: MarketSpec | None, client_order_id: str | None = None
    ) -> Fill:
        spec = self.spec_for_symbol(row.get("symbol") or "") or spec
        scale = spec.price_scale if spec else Decimal("1")
        side = str(row.get("side") or "").lower()
        if side not in ("buy", "sell") and "isBuyer" in row:
            side = "buy" if row["isBuyer"] else "sell"
        fee_asset = str(row.get("feeAsset") or "")
        client_order_id = row.get("clientOrderId") or client_order_id
        trade_id = row.get("tradeId") or row.get("id")
        if trade_id in (None, ""):
            # No id given: a digest of what identifies this fill.
            trade_id = synthetic_trade_id(
                "wallex", row.get("symbol"), client_order_id, row.get("timestamp"),
                row.get("price"), row.get("quantity"), row.get("fee"),
            )
        maker = str(row.get("makerType") or "").upper()
        return Fill(
            trade_id=str(trade_id),
            market=spec.market if spec else str(row.get("symbol") or ""),
            side=Side(side) if side in ("buy", "sell") else None,
            price=to_decimal(row["price"]) * scale,
            quantity=to_decimal(row["quantity"]),
            fee=to_rial(fee_asset, to_decimal(row.get("fee") or 0)),
            fee_asset=project_asset(fee_asset) if fee_asset else "",
            timestamp=utc_from_iso(row.get("timestamp")),
            exchange_order_id=client_order_id,
            client_order_id=client_order_id,
            is_maker=(maker == "MAKER") if maker else None,
        )


def _rows(entries: Any) -> list[tuple[Any, Any]]:
    """Depth entries ``{"price","quantity"}``; quantity a string or a number [?]."""
    if isinstance(entries, dict):  # some editions key levels by price
        entries = entries.values()
    return [(entry["price"], entry["quantity"]) for entry in entries]
