"""Invex (docs: rabbitix/invex-trading-api-docs, 2024; less certain than the others).

``X-API-Key-Invex`` header, and every private request carries ``expire_at``
(now + 60 s) and ``signature``: RSA-PSS (SHA-256, MGF1-SHA256, maximum salt)
over the JSON of its parameters, hex encoded; the private key is hex DER.
IRR markets quote in rial. The base URL includes ``/trading/v1``.

Uncertain points [?], each handled tolerantly or as a class attribute:
- the exact JSON the signature covers: the docs say "json of the input
  data"; we sign compact JSON with sorted keys, every value a string
  (``SIGNATURE_JSON``), which is what the project's sandbox verifies;
- ``expire_at`` is written in UTC (``EXPIRE_AT_UTC_OFFSET``);
- a partial fill is ``NOT_FILLED`` with ``deal_quantity`` > 0;
- fills have no id: a deterministic digest is used.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from exchanges.errors import AuthenticationError
from exchanges.http import Call, CallKind, ErrorInfo
from exchanges.interface import (
    LIST_LOOKBACK_MARGIN_S,
    AdapterConfig,
    ExchangeAdapter,
    now_utc,
    utc_from_iso,
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
    synthetic_trade_id,
)

from ._common import ZERO, levels

logger = logging.getLogger(__name__)

_STATES = {
    "NOT_FILLED": OrderState.OPEN,
    "FULL_FILLED": OrderState.FILLED,
    "CANCELED_BY_USER": OrderState.CANCELLED,
    # Cancelled by the exchange, not by us (e.g. a market order's remainder):
    # EXPIRED keeps that distinction visible in the order's history.
    "CANCELED_BY_SYSTEM": OrderState.EXPIRED,
    # Not in the book yet (a trigger order) [?]: still live.
    "INACTIVE": OrderState.OPEN,
}
_SIDES = {"BUYER": Side.BUY, "SELLER": Side.SELL}
EXPIRE_AT_FORMAT = "%Y-%m-%d %H:%M:%S"
SEARCH_PAGE_SIZE = 100  # the documented maximum
MAX_PAGES = 100  # 10,000 orders per listing
# Searched, in this order, for orders that left the open list.
CLOSED_STATUSES = ("FULL_FILLED", "CANCELED_BY_USER", "CANCELED_BY_SYSTEM", "NOT_FILLED")
FILLS_ORDERS = 20  # recent orders read for their trades


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """Hex DER as documented; PEM accepted too for an operator's convenience."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        key = serialization.load_der_private_key(bytes.fromhex(text), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


class InvexAdapter(ExchangeAdapter):
    kind = "invex"
    default_base_url = "https://api.invex.ir/trading/v1"
    SIGNATURE_JSON: ClassVar[dict[str, Any]] = {
        "separators": (",", ":"), "sort_keys": True, "ensure_ascii": True,
    }
    EXPIRE_AT_UTC_OFFSET: ClassVar[timedelta] = timedelta(0)
    EXPIRE_AFTER: ClassVar[timedelta] = timedelta(seconds=60)
    BOOK_DEPTH: ClassVar[int] = 20  # 5, 20 or 50

    def __init__(self, config: AdapterConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._key: rsa.RSAPrivateKey | None = None
        self._key_problem = "no private key configured (INVEX_PRIVATE_KEY or admin)"
        if config.api_secret:
            try:
                self._key = load_private_key(config.api_secret)
            except (ValueError, TypeError) as exc:
                # Never echo the key: only say what is wrong with it.
                self._key_problem = f"private key is not a hex DER RSA key ({type(exc).__name__})"

    # -- signing -----------------------------------------------------------------------

    def signature(self, params: dict[str, str]) -> str:
        if self._key is None:
            raise AuthenticationError(self.name, self._key_problem)
        message = json.dumps(params, **self.SIGNATURE_JSON).encode()
        return self._key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
            hashes.SHA256(),
        ).hex()

    def _sign(self, call: Call) -> Call:
        """Fresh ``expire_at`` and signature for this attempt."""
        expire_at = (now_utc() + self.EXPIRE_AFTER + self.EXPIRE_AT_UTC_OFFSET)
        if call.json_body is not None:
            data = {k: v for k, v in call.json_body.items() if k != "signature"}
            data["expire_at"] = expire_at.strftime(EXPIRE_AT_FORMAT)
            return replace(call, json_body={**data, "signature": self.signature(data)},
                           prepare=None)
        data = {k: v for k, v in (call.params or {}).items() if k != "signature"}
        data["expire_at"] = expire_at.strftime(EXPIRE_AT_FORMAT)
        return replace(call, params={**data, "signature": self.signature(data)}, prepare=None)

    def _private(self, call: Call) -> Any:
        self._require_credentials()
        if self._key is None:
            raise AuthenticationError(self.name, self._key_problem)
        call.prepare = self._sign
        return self.send(call)

    def auth_headers(self, call: Call) -> dict[str, str]:
        if call.endpoint == BOOK or not self.config.api_key:
            return {}
        return {"X-API-Key-Invex": self.config.api_key}

    def read_error(self, status: int, body: Any) -> ErrorInfo | None:
        if status < 400:
            return None
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, list):  # 422 validation errors
            parts, code = [], None
            for item in detail:
                if not isinstance(item, dict):
                    parts.append(str(item))
                    continue
                loc = ".".join(str(x) for x in item.get("loc") or [])
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
                code = code or item.get("type")
            # A refused signature is a credentials problem (wrong private key).
            return ErrorInfo(code=code, message="; ".join(parts) or f"HTTP {status}",
                             auth="signature" in str(code))
        message = str(detail or f"HTTP {status}")
        # A 404 counts as "no such order" only when the body says so: a bare
        # "Not Found" may be a wrong URL.
        not_found = status == 404 and "order" in message.lower()
        return ErrorInfo(code=None, message=message, not_found=not_found,
                         auth=status in (401, 403), rate_limited=status == 429)

    # -- market data -------------------------------------------------------------

    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        spec = self.spec(market)
        body = self.send(Call("GET", "/market-depth", BOOK,
                              params={"symbol": spec.symbol, "depth": str(self.BOOK_DEPTH)},
                              max_wait=max_wait))
        received = now_utc()  # Invex gives no timestamp
        with self.parsing(f"market depth {spec.symbol}"):
            return OrderBook(
                exchange=self.name,
                market=spec.market,
                bids=levels(((r["price"], r["quantity"]) for r in body["bid_orders"]),
                            spec.price_scale, descending=True),
                asks=levels(((r["price"], r["quantity"]) for r in body["ask_orders"]),
                            spec.price_scale, descending=False),
                received_at=received,
            )

    # -- orders --------------------------------------------------------------------

    def _place(self, order: PreparedOrder) -> ExchangeOrder:
        request, spec = order.request, order.spec
        payload: dict[str, str] = {
            "symbol": spec.symbol,
            "side": "BUYER" if request.side is Side.BUY else "SELLER",
            "type": request.type.value.upper(),
            "quantity": decimal_str(order.quantity),
            "client_order_id": request.client_order_id,
        }
        if order.exchange_price is not None:
            payload["price"] = decimal_str(order.exchange_price)
        body = self._private(Call("POST", "/orders", PLACE, CallKind.PLACE, json_body=payload,
                                  client_order_id=request.client_order_id))
        with self.parsing("create order", place_of=request.client_order_id):
            order_id = str(body["order_id"])
        # Invex answers only the id: the order is accepted; its fills are read
        # by the next status call.
        return ExchangeOrder(
            exchange=self.name, market=spec.market, state=OrderState.OPEN,
            exchange_order_id=order_id, client_order_id=request.client_order_id,
            side=request.side, type=request.type, price=order.price, quantity=order.quantity,
            raw_status="ACCEPTED", created_at=now_utc(),
        )

    def get_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> ExchangeOrder:
        body = self._private(Call("GET", "/order", STATUS,
                                  params=_order_ref(exchange_order_id, client_order_id),
                                  client_order_id=client_order_id))
        with self.parsing("order"):
            return self._order(body, spec=self.spec(market) if market else None)

    def _search(
        self, params: dict[str, str], *, pages: int = MAX_PAGES, endpoint: str = OPEN_ORDERS
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.LIST_PATIENCE
        for page in range(1, pages + 1):
            body = self.patiently(lambda page=page: self._private(Call(
                "GET", "/orders", endpoint,
                params={**params, "page": str(page), "page_size": str(SEARCH_PAGE_SIZE)},
            )), deadline=deadline)
            with self.parsing("orders search"):
                batch = list(body["orders"])
                total = int(body.get("total_count") or 0)
            rows.extend(batch)
            if not batch or len(rows) >= total:
                break
        return rows

    def _list_lookup(self, refs: list[OrderRef], *, deadline: float,
                     result: OrdersLookup) -> dict[str, ExchangeOrder]:
        """Search orders by status since the oldest of ``refs`` was written
        (100 a page), closed statuses first: the callers look up orders that
        left the open list. Search rows carry no trades: an order with fills
        is then read once to get them."""
        wanted = {ref.client_order_id for ref in refs}
        params: dict[str, str] = {}
        times = [ref.created_at for ref in refs if ref.created_at is not None]
        if len(times) == len(refs):
            start = min(times).astimezone(UTC) - timedelta(seconds=LIST_LOOKBACK_MARGIN_S)
            params["start_at"] = start.strftime(EXPIRE_AT_FORMAT)
        found: dict[str, ExchangeOrder] = {}
        for status in CLOSED_STATUSES:
            rows = self._search({**params, "status": status})
            result.calls += -(-len(rows) // SEARCH_PAGE_SIZE) or 1
            for row in rows:
                client_id = row.get("client_order_id")
                if client_id in wanted and client_id not in found:
                    order = self._order(row, spec=None)
                    if order.filled_quantity > ZERO and not order.fills:
                        result.calls += 1
                        order = self.patiently(lambda row=row: self.get_order(
                            exchange_order_id=str(row["order_id"])), deadline=deadline)
                    found[client_id] = order
            if len(found) == len(wanted):
                break
        return found

    def open_orders(self, market: str | None = None) -> list[ExchangeOrder]:
        spec = self.spec(market) if market else None
        params = {"status": "NOT_FILLED"}
        if spec is not None:
            params["symbol"] = spec.symbol
        rows = self._search(params)
        with self.parsing("orders search"):
            return [self._order(row, spec=spec) for row in rows]

    def cancel_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> None:
        body = self._private(Call("DELETE", "/orders", CANCEL, CallKind.CANCEL,
                                  params=_order_ref(exchange_order_id, client_order_id),
                                  client_order_id=client_order_id))
        # Asynchronous: accepted now, done shortly after; confirm with get_order.
        logger.info("%s: cancel of order %s accepted (cancel id %s)", self.name,
                    client_order_id or exchange_order_id, body.get("cancel_order_id"))

    # -- account ---------------------------------------------------------------------

    def assets(self) -> list[str]:
        """Every asset of the configured markets: Invex answers one currency per call."""
        seen: dict[str, None] = {}
        for spec in self.markets.values():
            seen.setdefault(spec.quote, None)
            seen.setdefault(spec.base, None)
        return list(seen)

    def balances(self) -> dict[str, Balance]:
        result: dict[str, Balance] = {}
        for asset in self.assets():
            body = self._private(Call("GET", "/accounts", BALANCES, params={"currency": asset}))
            with self.parsing(f"account {asset}"):
                name = str(body.get("currency") or asset).upper()
                available = to_decimal(body["available"])
                locked = to_decimal(body.get("blocked") or 0)
                total = to_decimal(body.get("total") or available + locked)
                result[name] = Balance(name, total, available, locked)
        return result

    def recent_fills(self, market: str | None = None) -> list[Fill]:
        """Trades of the most recent orders that dealt: Invex has no trade list, and
        its order search carries no trades, so each dealt order is read once."""
        spec = self.spec(market) if market else None
        params = {"symbol": spec.symbol} if spec else {}
        rows = self._search(params, pages=1, endpoint=FILLS)
        fills: list[Fill] = []
        dealt = [r for r in rows if to_decimal(r.get("deal_quantity") or 0) > ZERO]
        for row in dealt[:FILLS_ORDERS]:
            order = self.get_order(exchange_order_id=str(row["order_id"]))
            fills.extend(order.fills)
        return fills

    # -- parsing -----------------------------------------------------------------------

    def _order(self, row: dict[str, Any], *, spec: MarketSpec | None) -> ExchangeOrder:
        spec = self.spec_for_symbol(row.get("symbol") or "") or spec
        raw_status = str(row.get("status") or "")
        quantity = to_decimal(row["quantity"])
        filled = to_decimal(row.get("deal_quantity") or 0)
        state = _STATES.get(raw_status.upper(), OrderState.UNKNOWN)
        if state is OrderState.OPEN and filled > ZERO:
            state = OrderState.PARTIALLY_FILLED
        side = _SIDES.get(str(row.get("side") or "").upper())
        order_type = str(row.get("type") or "").lower()
        order_id = str(row["order_id"]) if row.get("order_id") else None
        fills = tuple(
            self._fill(trade, index, spec=spec, side=side, order_id=order_id,
                       client_order_id=row.get("client_order_id"))
            for index, trade in enumerate(row.get("trades") or ())
        )
        scale = spec.price_scale if spec else 1
        price_raw = row.get("price")
        average = None
        if fills:
            dealt = sum((f.quantity for f in fills), ZERO)
            if dealt > ZERO:
                average = sum((f.price * f.quantity for f in fills), ZERO) / dealt
        return ExchangeOrder(
            exchange=self.name,
            market=spec.market if spec else str(row.get("symbol") or ""),
            state=state,
            exchange_order_id=order_id,
            client_order_id=row.get("client_order_id"),
            side=side,
            type=OrderType(order_type) if order_type in ("limit", "market") else None,
            price=to_decimal(price_raw) * scale if price_raw not in (None, "") else None,
            quantity=quantity,
            filled_quantity=filled,
            average_price=average,
            fee=sum((f.fee for f in fills), ZERO) if fills else None,
            fee_asset=fills[0].fee_asset if fills else None,
            fills=fills,
            raw_status=raw_status,
            created_at=utc_from_iso(row.get("created_at")),
        )

    def _fill(
        self,
        trade: dict[str, Any],
        index: int,
        *,
        spec: MarketSpec | None,
        side: Side | None,
        order_id: str | None,
        client_order_id: str | None,
    ) -> Fill:
        scale = spec.price_scale if spec else 1
        return Fill(
            # No trade id on the wire: a digest of the order and the trade's
            # own fields, stable however often it is read.
            trade_id=synthetic_trade_id(
                "invex", order_id, index, trade.get("created_at"), trade.get("price"),
                trade.get("quantity"), trade.get("fee"),
            ),
            market=spec.market if spec else "",
            side=side,
            price=to_decimal(trade["price"]) * scale,
            quantity=to_decimal(trade["quantity"]),
            fee=to_decimal(trade.get("fee") or 0),
            # Not documented [?]: taken as the asset received (base on a buy).
            fee_asset=(spec.base if side is Side.BUY else spec.quote) if spec and side else "",
            timestamp=utc_from_iso(trade.get("created_at")),
            exchange_order_id=order_id,
            client_order_id=client_order_id,
            is_maker=(str(trade["type"]).upper() == "MAKER") if trade.get("type") else None,
        )


def _order_ref(exchange_order_id: str | None, client_order_id: str | None) -> dict[str, str]:
    if exchange_order_id:
        return {"order_id": str(exchange_order_id)}
    if client_order_id:
        return {"client_order_id": client_order_id}
    raise ValueError("give exchange_order_id or client_order_id")
