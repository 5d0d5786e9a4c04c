"""Invex (docs: rabbitix/invex-trading-api-docs and its official copy
invex-cryptocurrency-exchange/Invex-API-docs: README, ``swagger/swagger.yaml``,
``examples/``; less certain than the other two).

``X-API-Key-Invex`` header, and every request with data carries ``expire_at``
(now + 60 s, ``%Y-%m-%d %H:%M:%S``) and ``signature``: RSA-PSS (SHA-256,
MGF1-SHA256, maximum salt) over the JSON of its parameters including
``expire_at``, hex encoded; the private key is hex DER. IRR markets quote in
rial. The base URL includes ``/trading/v1``; the documented hosts are
``https://invex.ir`` and ``https://sandbox.invex.ir`` (swagger ``servers``).

The points the docs leave open, each a wire variant (``exchanges.variants``):

- ``invex-signing``: the official examples sign ``json.dumps(params)`` with
  Python's defaults (``", "`` and ``": "``, insertion order) and send
  ``json.dumps`` of the same dict with ``signature`` added
  (``examples/create_order.py``); ``compact`` signs and sends compact JSON
  with sorted keys. Either way the body sent is serialised here, once, and
  the signature is over those very bytes (less the signature), never over a
  re-encoding by the HTTP library. Query calls sign the parameters in the
  order they are sent.
- ``invex-expire-tz``: the examples write ``datetime.now()``, naive local
  time, in Iran: ``tehran`` (default) or ``utc``.
- ``invex-order-fields``: the README's ``symbol, side, type, quantity,
  price, client_order_id`` (default) or the swagger file's ``market_type,
  order_side_type, order_class_type, quantity, price,
  customer_external_trace_id``.
- ``symbol`` in answers may be a string or ``{code, base_currency_type,
  quote_currency_type}`` (swagger ``anyOf``): both are read.

Other uncertain points [?]: a partial fill is ``NOT_FILLED`` with
``deal_quantity`` > 0; fills have no id (a deterministic digest is used);
no fee endpoint (fees are 0-0.5% by level, README FAQ).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from exchanges.errors import AuthenticationError
from exchanges.http import Call, CallKind, ErrorInfo
from exchanges.interface import (
    LIST_LOOKBACK_MARGIN_S,
    AdapterConfig,
    ExchangeAdapter,
    now_utc,
)
from exchanges.markets import MarketSpec, PreparedOrder, decimal_str
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
    synthetic_trade_id,
)

from ._common import ZERO, Node, levels

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
TEHRAN = ZoneInfo("Asia/Tehran")
SEARCH_PAGE_SIZE = 100  # the documented maximum (default 10)
MAX_PAGES = 100  # 10,000 orders per listing
# Searched, in this order, for orders that left the open list.
CLOSED_STATUSES = ("FULL_FILLED", "CANCELED_BY_USER", "CANCELED_BY_SYSTEM", "NOT_FILLED")
FILLS_ORDERS = 20  # recent orders read for their trades
# Create-order field names: the README's and the swagger file's.
ORDER_FIELDS = {
    "readme": {"symbol": "symbol", "side": "side", "type": "type",
               "client_order_id": "client_order_id"},
    "swagger": {"symbol": "market_type", "side": "order_side_type", "type": "order_class_type",
                "client_order_id": "customer_external_trace_id"},
}


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
    default_base_url = "https://invex.ir/trading/v1"
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

    def serialize(self, data: dict[str, Any]) -> str:
        """The JSON text that is signed and sent, in this exchange's variant."""
        if self.variant("invex-signing") == "compact":
            return json.dumps(data, separators=(",", ":"), sort_keys=True)
        return json.dumps(data)  # the official examples: Python's defaults

    def signature(self, data: dict[str, Any]) -> str:
        """Hex RSA-PSS signature of ``serialize(data)`` (``data`` without ``signature``)."""
        if self._key is None:
            raise AuthenticationError(self.name, self._key_problem)
        return self._key.sign(
            self.serialize(data).encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
            hashes.SHA256(),
        ).hex()

    def expire_at(self, now: datetime | None = None) -> str:
        """now + 60 s, naive, in the variant's zone (Asia/Tehran as the examples)."""
        now = now or now_utc()
        zone = TEHRAN if self.variant("invex-expire-tz") == "tehran" else UTC
        return (now + self.EXPIRE_AFTER).astimezone(zone).strftime(EXPIRE_AT_FORMAT)

    def _sign(self, call: Call) -> Call:
        """Fresh ``expire_at`` and signature for this attempt (a replayed
        signature is refused), over exactly what is sent."""
        if call.json_body is not None:
            data = {k: v for k, v in call.json_body.items() if k != "signature"}
            data["expire_at"] = self.expire_at()
            body = self.serialize({**data, "signature": self.signature(data)}).encode()
            return replace(call, json_body=None, body=body, prepare=None,
                           headers={**call.headers, "Content-Type": "application/json"})
        data = {k: str(v) for k, v in (call.params or {}).items() if k != "signature"}
        data["expire_at"] = self.expire_at()
        return replace(call, params={**data, "signature": self.signature(data)}, prepare=None)

    def signed(self, call: Call) -> Call:
        """``call`` as a signed private call (key header, ``expire_at`` and
        ``signature`` added on sending): the conformance check's probes."""
        return self._private(call)

    def _private(self, call: Call) -> Call:
        self._require_credentials()
        if self._key is None:
            raise AuthenticationError(self.name, self._key_problem)
        call.prepare = self._sign
        call.private = True
        return call

    def auth_headers(self, call: Call) -> dict[str, str]:
        if call.endpoint == BOOK and not call.private or not self.config.api_key:
            return {}
        return {"X-API-Key-Invex": self.config.api_key}

    def read_error(self, status: int, body: Any, call: Call) -> ErrorInfo | None:
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
                code = code or (str(item["type"]) if item.get("type") else None)
            # A refused signature is a credentials problem (wrong private key,
            # or the wrong invex-signing variant).
            return ErrorInfo(code=code, message="; ".join(parts) or f"HTTP {status}",
                             auth="signature" in str(code))
        message = str(detail or f"HTTP {status}")
        # A 404 counts as "no such order" only for a lookup and when the body
        # says so: a bare "Not Found" may be a wrong URL.
        not_found = call.lookup and status == 404 and "order" in message.lower()
        return ErrorInfo(code=None, message=message, not_found=not_found,
                         auth=status in (401, 403), rate_limited=status == 429)

    # -- market data -------------------------------------------------------------

    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        spec = self.spec(market)

        def parse(root: Node) -> OrderBook:
            return OrderBook(
                exchange=self.name,
                market=spec.market,
                bids=levels(((r["price"], r["quantity"]) for r in root["bid_orders"].list()),
                            spec.price_scale, descending=True),
                asks=levels(((r["price"], r["quantity"]) for r in root["ask_orders"].list()),
                            spec.price_scale, descending=False),
                received_at=now_utc(),  # Invex gives no timestamp
            )

        return self.fetch(Call("GET", "/market-depth", BOOK,
                               params={"symbol": spec.symbol, "depth": str(self.BOOK_DEPTH)},
                               max_wait=max_wait), f"market depth {spec.symbol}", parse)

    def market_rules(self) -> dict[str, MarketRules]:
        """``GET /markets``: ``{"rules": [...]}`` (swagger); the README shows one rule.
        Signed when credentials are set, as the official example does."""

        def parse(root: Node) -> dict[str, MarketRules]:
            rows = root["rules"].list() if root.has("rules") else [root]
            rules = {}
            for row in rows:
                symbol = _symbol_of(row["symbol"])
                spec = self.spec_for_symbol(symbol)
                scale = spec.price_scale if spec else 1
                tick = row.get("tick_size").opt_decimal()
                low = row.get("minimum_limit_order_value").opt_decimal()
                high = row.get("maximum_limit_order_value").opt_decimal()
                rules[symbol] = MarketRules(
                    exchange=self.name, symbol=symbol, market=spec.market if spec else None,
                    amount_step=row.get("amount_step_size").opt_decimal(),
                    price_tick=tick * scale if tick is not None else None,
                    min_order_value=low * scale if low is not None else None,
                    max_order_value=high * scale if high is not None else None,
                )
            return rules

        call = Call("GET", "/markets", BOOK)
        if self.config.api_key and self._key is not None:
            call = self._private(call)
        return self.fetch(call, "markets", parse)

    def fee_rates(self) -> dict[str, FeeRate]:
        """Invex documents no fee endpoint ("0.0% to 0.5% by level", README FAQ)."""
        return {}

    # -- orders --------------------------------------------------------------------

    def _place(self, order: PreparedOrder) -> ExchangeOrder:
        request, spec = order.request, order.spec
        names = ORDER_FIELDS[self.variant("invex-order-fields")]
        payload: dict[str, str] = {"quantity": decimal_str(order.quantity)}
        if order.exchange_price is not None:
            payload["price"] = decimal_str(order.exchange_price)
        payload[names["symbol"]] = spec.symbol
        payload[names["side"]] = "BUYER" if request.side is Side.BUY else "SELLER"
        payload[names["type"]] = request.type.value.upper()
        payload[names["client_order_id"]] = request.client_order_id
        order_id = self.fetch(
            self._private(Call("POST", "/orders", PLACE, CallKind.PLACE, json_body=payload,
                               client_order_id=request.client_order_id)),
            "create order", lambda root: root["order_id"].text())
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
        spec = self.spec(market) if market else None
        return self.fetch(
            self._private(Call("GET", "/order", STATUS,
                               params=_order_ref(exchange_order_id, client_order_id),
                               client_order_id=client_order_id, lookup=True)),
            "order", lambda root: self._order(root, spec=spec))

    def _search(
        self, params: dict[str, str], *, pages: int = MAX_PAGES, endpoint: str = OPEN_ORDERS
    ) -> list[Node]:
        rows: list[Node] = []
        deadline = time.monotonic() + self.LIST_PATIENCE

        def parse(root: Node) -> tuple[list[Node], int | None]:
            total = root.get("total_count").opt_decimal()
            return root["orders"].list(), int(total) if total is not None else None

        for page in range(1, pages + 1):
            batch, total = self.patiently(lambda page=page: self.fetch(
                self._private(Call(
                    "GET", "/orders", endpoint,
                    params={**params, "page": str(page), "page_size": str(SEARCH_PAGE_SIZE)},
                )), "orders search", parse), deadline=deadline)
            rows.extend(batch)
            if not batch or (len(rows) >= total if total is not None
                             else len(batch) < SEARCH_PAGE_SIZE):
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
                with self.parsing("orders search"):
                    order = self._order(row, spec=None)
                client_id = order.client_order_id
                if client_id in wanted and client_id not in found:
                    if order.filled_quantity > ZERO and not order.fills:
                        result.calls += 1
                        order = self.patiently(lambda order=order: self.get_order(
                            exchange_order_id=order.exchange_order_id), deadline=deadline)
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
        cancel_id = self.fetch(
            self._private(Call("DELETE", "/orders", CANCEL, CallKind.CANCEL,
                               params=_order_ref(exchange_order_id, client_order_id),
                               client_order_id=client_order_id, lookup=True)),
            "cancel", lambda root: root["cancel_order_id"].text())
        # Asynchronous: accepted now, done shortly after; confirm with get_order.
        logger.info("%s: cancel of order %s accepted (cancel id %s)", self.name,
                    client_order_id or exchange_order_id, cancel_id)

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

            def parse(root: Node, asset: str = asset) -> Balance:
                name = (root.get("currency").opt_text() or asset).upper()
                available = root["available"].decimal()
                locked = root.get("blocked").opt_decimal() or ZERO
                total = root.get("total").opt_decimal()
                return Balance(name, available + locked if total is None else total,
                               available, locked)

            balance = self.fetch(
                self._private(Call("GET", "/accounts", BALANCES, params={"currency": asset})),
                f"account {asset}", parse)
            result[balance.asset] = balance
        return result

    def recent_fills(self, market: str | None = None) -> list[Fill]:
        """Trades of the most recent orders that dealt: Invex has no trade list, and
        its order search carries no trades, so each dealt order is read once."""
        spec = self.spec(market) if market else None
        params = {"symbol": spec.symbol} if spec else {}
        rows = self._search(params, pages=1, endpoint=FILLS)
        with self.parsing("orders search"):
            dealt = [self._order(r, spec=spec) for r in rows]
        fills: list[Fill] = []
        for order in [o for o in dealt if o.filled_quantity > ZERO][:FILLS_ORDERS]:
            fills.extend(self.get_order(exchange_order_id=order.exchange_order_id).fills)
        return fills

    # -- parsing -----------------------------------------------------------------------

    def _order(self, row: Node, *, spec: MarketSpec | None) -> ExchangeOrder:
        row.obj()
        symbol = _symbol_of(row.get("symbol")) if not row.get("symbol").is_null() else ""
        spec = self.spec_for_symbol(symbol) or spec
        raw_status = (row.get("status").opt_text() or "").upper()
        quantity = row["quantity"].decimal()
        filled = row.get("deal_quantity").opt_decimal() or ZERO
        state = _STATES.get(raw_status, OrderState.UNKNOWN)
        if state is OrderState.OPEN and filled > ZERO:
            state = OrderState.PARTIALLY_FILLED
        side = _SIDES.get((row.get("side").opt_text() or "").upper())
        order_type = (row.get("type").opt_text() or "").lower()
        order_id = row.get("order_id").opt_text()
        client_order_id = (row.get("client_order_id").opt_text()
                           or row.get("customer_external_trace_id").opt_text())
        fills = tuple(
            self._fill(trade, index, spec=spec, side=side, order_id=order_id,
                       client_order_id=client_order_id)
            for index, trade in enumerate(row.get("trades").opt_list())
        )
        scale = spec.price_scale if spec else 1
        price = row.get("price").opt_decimal()
        average = None
        dealt = sum((f.quantity for f in fills), ZERO)
        if dealt > ZERO:
            average = sum((f.price * f.quantity for f in fills), ZERO) / dealt
        return ExchangeOrder(
            exchange=self.name,
            market=spec.market if spec else symbol,
            state=state,
            exchange_order_id=order_id,
            client_order_id=client_order_id,
            side=side,
            type=OrderType(order_type) if order_type in ("limit", "market") else None,
            price=price * scale if price is not None else None,
            quantity=quantity,
            filled_quantity=filled,
            average_price=average,
            fee=sum((f.fee for f in fills), ZERO) if fills else None,
            fee_asset=fills[0].fee_asset if fills else None,
            fills=fills,
            raw_status=raw_status,
            created_at=row.get("created_at").iso_time(),
        )

    def _fill(
        self,
        trade: Node,
        index: int,
        *,
        spec: MarketSpec | None,
        side: Side | None,
        order_id: str | None,
        client_order_id: str | None,
    ) -> Fill:
        scale = spec.price_scale if spec else 1
        kind = (trade.get("type").opt_text() or "").upper()
        return Fill(
            # No trade id on the wire: a digest of the order and the trade's
            # own fields, stable however often it is read.
            trade_id=synthetic_trade_id(
                "invex", order_id, index, trade.get("created_at").value,
                trade.get("price").value, trade.get("quantity").value, trade.get("fee").value,
            ),
            market=spec.market if spec else "",
            side=side,
            price=trade["price"].decimal() * scale,
            quantity=trade["quantity"].decimal(),
            fee=trade.get("fee").opt_decimal() or ZERO,
            # Not documented [?]: taken as the asset received (base on a buy).
            fee_asset=(spec.base if side is Side.BUY else spec.quote) if spec and side else "",
            timestamp=trade.get("created_at").iso_time(),
            exchange_order_id=order_id,
            client_order_id=client_order_id,
            is_maker=(kind == "MAKER") if kind else None,
        )


def _symbol_of(node: Node) -> str:
    """A ``MarketType`` string or a ``BaseMarketDTO`` object (swagger ``anyOf``)."""
    if node.is_obj():
        if node.has("code"):
            return node["code"].text()
        return f"{node['base_currency_type'].text()}_{node['quote_currency_type'].text()}"
    return node.text()


def _order_ref(exchange_order_id: str | None, client_order_id: str | None) -> dict[str, str]:
    if exchange_order_id:
        return {"order_id": str(exchange_order_id)}
    if client_order_id:
        return {"client_order_id": client_order_id}
    raise ValueError("give exchange_order_id or client_order_id")
