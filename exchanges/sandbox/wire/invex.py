"""Invex's wire format (rabbitix/invex-trading-api-docs), prices in rial for IRR markets.

Signed requests: ``X-API-Key-Invex`` plus ``expire_at`` and ``signature`` in the JSON body
(POST) or the query string (GET/DELETE); see ``signing.py`` for the exact message.
Refusals: 422 ``{"detail":[{"loc","msg","type"}]}``; unknown key 401 and missing order 404
as ``{"detail":"…"}``. Cancel is asynchronous: answered at once, done shortly after.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from ..engine import Engine, EngineError, Order
from ..signing import MAX_FUTURE, parse_expire_at, verify
from .common import Request, Response, Route, dec, fmt, iso

STATUSES = ("NOT_FILLED", "FULL_FILLED", "CANCELED_BY_USER", "CANCELED_BY_SYSTEM", "INACTIVE")
ERROR_TYPES = {
    "unknown_market": "type_error.enum",
    "invalid": "value_error",
    "invalid_amount": "value_error.quantity",
    "invalid_price": "value_error.price",
    "bad_price": "value_error.bad_price",
    "small_order": "value_error.minimum_order_value",
    "large_order": "value_error.maximum_order_value",
    "insufficient": "value_error.insufficient_balance",
    "duplicate_client_id": "value_error.duplicate_client_order_id",
    "amount_precision": "value_error.amount_step_size",
    "price_precision": "value_error.tick_size",
    "not_open": "value_error.order_not_open",
}
ERROR_FIELDS = {"amount_precision": "quantity", "invalid_amount": "quantity",
                "price_precision": "price", "invalid_price": "price", "bad_price": "price",
                "duplicate_client_id": "client_order_id", "unknown_market": "symbol"}


def invalid(where: str, field: str, msg: str, kind: str) -> Response:
    return Response(422, {"detail": [{"loc": [where, field], "msg": msg, "type": kind}]})


def detail(status: int, message: str) -> Response:
    return Response(status, {"detail": message})


class InvexWire:
    exchange = "invex"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resolve(self, method: str, path: str) -> Route | None:
        routes = {
            ("GET", "/market-depth"): Route("depth", self.depth),
            ("GET", "/markets"): Route("markets", self.markets),
            ("POST", "/orders"): Route("place", self.place, places_order=True),
            ("GET", "/orders"): Route("search", self.search),
            ("DELETE", "/orders"): Route("cancel", self.cancel),
            ("GET", "/order"): Route("status", self.status),
            ("GET", "/accounts"): Route("accounts", self.accounts),
        }
        return routes.get((method, path.rstrip("/") or "/"))

    def api_key(self, req: Request) -> str | None:
        return (req.header("x-api-key-invex") or "").strip() or None

    def unauthorized(self) -> Response:
        return detail(401, "Invalid API key")

    def too_many(self, back_off: int, limit: int) -> Response:
        return Response(429, {"detail": f"Too many requests; retry in {back_off} seconds"},
                        {"Retry-After": str(back_off)})

    def not_found(self) -> Response:
        return detail(404, "Not Found")

    def _signed(self, req: Request) -> tuple[str | None, dict, Response | None]:
        """(api key, parameters, refusal): checks the key, expiry and signature."""
        key = self.api_key(req)
        account = self.engine.accounts.get(key or "")
        if account is None:
            return None, {}, self.unauthorized()
        where = "body" if req.method == "POST" else "query"
        params = req.json_body() if req.method == "POST" else dict(req.query)
        if params is None:
            return None, {}, invalid("body", "", "Malformed JSON body", "value_error.jsondecode")
        for field in ("expire_at", "signature"):
            if not params.get(field):
                return None, {}, invalid(where, field, "field required", "value_error.missing")
        expires = parse_expire_at(str(params["expire_at"]))
        now = datetime.now(UTC)
        if expires is None:
            return None, {}, invalid(where, "expire_at", "invalid datetime format",
                                     "value_error.datetime")
        if expires < now:
            return None, {}, invalid(where, "expire_at", "request has expired",
                                     "value_error.expired")
        if expires > now + MAX_FUTURE:
            return None, {}, invalid(where, "expire_at", "expire_at is too far in the future",
                                     "value_error.expire_at")
        # Verify over the body as plain JSON (numbers as json reads them), not as Decimals.
        signed = json.loads(req.body) if req.method == "POST" else params
        if not account.public_key_hex or not verify(signed, str(params["signature"]),
                                                    account.public_key_hex):
            return None, {}, invalid(where, "signature", "invalid signature",
                                     "value_error.signature")
        return key, params, None

    # -- public ---------------------------------------------------------------------

    def depth(self, req: Request) -> Response:
        symbol = req.query.get("symbol") or ""
        if symbol not in self.engine.markets:
            return invalid("query", "symbol", "value is not a valid enumeration member",
                           "type_error.enum")
        depth = req.query.get("depth") or ""
        if depth not in ("5", "20", "50"):
            return invalid("query", "depth", "value is not a valid enumeration member; "
                           "permitted: '5', '20', '50'", "type_error.enum")
        asks, bids = self.engine.book(symbol).snapshot(int(depth))
        side = lambda levels: [  # noqa: E731
            {"depth": i, "price": fmt(p), "quantity": fmt(q)} for i, (p, q) in enumerate(levels, 1)
        ]
        return Response(200, {"ask_orders": side(asks), "bid_orders": side(bids)})

    def markets(self, req: Request) -> Response:
        return Response(200, {"rules": [
            {"symbol": m.symbol, "tick_size": fmt(m.tick), "amount_step_size": fmt(m.step),
             "minimum_limit_order_value": fmt(m.min_notional),
             "maximum_limit_order_value": fmt(m.max_notional)}
            for m in self.engine.markets.values()
        ]})

    # -- private --------------------------------------------------------------------

    def place(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        symbol = p.get("symbol") or p.get("market_type")
        side = p.get("side") or p.get("order_side_type")
        kind = p.get("type") or p.get("order_class_type")
        client_id = p.get("client_order_id") or p.get("customer_external_trace_id")
        if side not in ("BUYER", "SELLER"):
            return invalid("body", "side", "permitted: 'BUYER', 'SELLER'", "type_error.enum")
        if kind not in ("LIMIT", "MARKET"):
            return invalid("body", "type", "permitted: 'LIMIT', 'MARKET'", "type_error.enum")
        if symbol not in self.engine.markets:
            return invalid("body", "symbol", "value is not a valid enumeration member",
                           "type_error.enum")
        try:
            order = self.engine.place(
                key, symbol=symbol, side="buy" if side == "BUYER" else "sell",
                kind=kind.lower(), amount=dec(p.get("quantity")),
                price=dec(p.get("price")) if kind == "LIMIT" else None,
                client_id=str(client_id) if client_id else None,
            )
        except EngineError as exc:
            return invalid("body", ERROR_FIELDS.get(exc.code, "__root__"), exc.message,
                           ERROR_TYPES.get(exc.code, "value_error"))
        return Response(200, {"order_id": order.uuid})

    def status(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        order = self._find(key, p)
        if order is None:
            return detail(404, "Order not found")
        return Response(200, self.order_json(order, with_trades=True))

    def cancel(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        order = self._find(key, p)
        if order is None:
            return detail(404, "Order not found")
        try:
            self.engine.cancel(order)
        except EngineError as exc:
            return invalid("query", "order_id", "order is not open", ERROR_TYPES[exc.code])
        return Response(200, {"cancel_order_id": order.cancel_id})

    def search(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        try:
            page = int(p.get("page") or 1)
            page_size = int(p.get("page_size") or 10)
        except ValueError:
            return invalid("query", "page_size", "value is not a valid integer",
                           "type_error.integer")
        if not 1 <= page_size <= 100:
            return invalid("query", "page_size", "ensure this value is less than or equal "
                           "to 100", "value_error.number.not_le")
        if page < 1:
            return invalid("query", "page", "ensure this value is greater than 0",
                           "value_error.number.not_gt")
        if p.get("status") and p["status"] not in STATUSES:
            return invalid("query", "status", "value is not a valid enumeration member",
                           "type_error.enum")
        orders = self.engine.account_orders(key)
        start, end = p.get("start_at"), p.get("end_at")
        start_ts = _ts(start) if start else None
        end_ts = _ts(end) if end else None
        orders = [
            o for o in orders
            if (not p.get("symbol") or o.symbol == p["symbol"])
            and (not p.get("side") or _side(o) == p["side"])
            and (not p.get("type") or o.kind.upper() == p["type"])
            and (not p.get("status") or self._status(o) == p["status"])
            and (start_ts is None or o.created_at >= start_ts)
            and (end_ts is None or o.created_at <= end_ts)
        ]
        orders.sort(key=lambda o: o.created_at, reverse=True)
        chunk = orders[(page - 1) * page_size: page * page_size]
        return Response(200, {"orders": [self.order_json(o) for o in chunk],
                              "total_count": len(orders)})

    def accounts(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        currency = p.get("currency")
        wallet = self.engine.wallet(key)
        known = {m.base_currency for m in self.engine.markets.values()} | {"IRR"}
        if currency not in known:
            return invalid("query", "currency", "value is not a valid enumeration member",
                           "type_error.enum")
        total = wallet.total.get(currency, Decimal(0))
        blocked = wallet.blocked.get(currency, Decimal(0))
        return Response(200, {"currency": currency, "available": fmt(total - blocked),
                              "blocked": fmt(blocked), "total": fmt(total)})

    # -- shapes ---------------------------------------------------------------------

    def _status(self, order: Order) -> str:
        if order.status == "filled":
            return "FULL_FILLED"
        if order.status == "canceled":
            return "CANCELED_BY_USER" if order.canceled_by == "user" else "CANCELED_BY_SYSTEM"
        return "NOT_FILLED"

    def order_json(self, order: Order, *, with_trades: bool = False) -> dict:
        out = {
            "order_id": order.uuid,
            "symbol": order.symbol,
            "status": self._status(order),
            "type": order.kind.upper(),
            "side": _side(order),
            "price": fmt(order.price if order.price is not None else order.average_price),
            "quantity": fmt(order.amount),
            "deal_quantity": fmt(order.filled),
            "time_in_force": "GTC",
            "client_order_id": order.client_id,
            "cancel_order_id": order.cancel_id,
            "created_at": iso(order.created_at),
            "updated_at": iso(order.updated_at),
        }
        if with_trades:
            out["trades"] = [
                {"type": "MAKER" if f.maker else "TAKER", "quantity": fmt(f.amount),
                 "fee": fmt(f.fee), "price": fmt(f.price), "created_at": iso(f.at)}
                for f in order.fills
            ]
        return out

    def _find(self, key: str, p: dict) -> Order | None:
        if p.get("order_id"):
            return self.engine.find(key, order_uuid=str(p["order_id"]))
        if p.get("client_order_id"):
            return self.engine.find(key, client_id=str(p["client_order_id"]))
        return None


def _side(order: Order) -> str:
    return "BUYER" if order.side == "buy" else "SELLER"


def _ts(value: str) -> float | None:
    parsed = parse_expire_at(value)
    return parsed.timestamp() if parsed else None
