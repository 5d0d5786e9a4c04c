"""Invex's wire format, from ``rabbitix/invex-trading-api-docs`` (README, swagger) and the
official examples (``invex-cryptocurrency-exchange/Invex-API-docs`` ``examples/``); prices
in rial for IRR markets.

Signed requests: header ``X-API-Key-Invex`` plus ``expire_at`` and ``signature`` in the JSON
body (POST) or the query string (GET/DELETE); ``signing.py`` says which bytes are signed.
Refusals are FastAPI's: 422 ``{"detail": [{"loc", "msg", "type"}]}`` for validation, a
missing key 403 ``{"detail": "Not authenticated"}`` (APIKeyHeader), other refusals
``{"detail": "…"}``. Cancel is asynchronous ("Create Cancel Order Command").
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Context, Decimal

from ..engine import Engine, EngineError, Order
from ..signing import MAX_FUTURE, ZONES, parse_time, verify
from ..variants import Variants
from .common import Request, Response, Route, dec, fmt

STATUSES = ("NOT_FILLED", "FULL_FILLED", "CANCELED_BY_USER", "CANCELED_BY_SYSTEM", "INACTIVE")
CURRENCY = re.compile(r"^[A-Z0-9]{1,10}$|^XAUt$")
ERROR_TYPES = {
    "unknown_market": "type_error.enum",
    "invalid": "value_error",
    "invalid_amount": "value_error.number.not_gt",
    "invalid_price": "value_error.number.not_gt",
    "bad_price": "value_error.bad_price",
    "small_order": "value_error.minimum_limit_order_value",
    "large_order": "value_error.maximum_limit_order_value",
    "insufficient": "value_error.insufficient_balance",
    "duplicate_client_order_id": "value_error.duplicate_client_order_id",
    "duplicate_client_id": "value_error.duplicate_client_order_id",
    "amount_precision": "value_error.amount_step_size",
    "price_precision": "value_error.tick_size",
    "not_open": "value_error.order_not_open",
}
# README names (default) and the swagger file's names of the create-order fields.
ORDER_FIELDS = {
    "readme": {"symbol": "symbol", "side": "side", "type": "type",
               "client_order_id": "client_order_id"},
    "swagger": {"symbol": "market_type", "side": "order_side_type", "type": "order_class_type",
                "client_order_id": "customer_external_trace_id"},
}
EIGHTEEN = Decimal("1E-18")


def error(loc: list, msg: str, kind: str) -> dict:
    return {"loc": loc, "msg": msg, "type": kind}


def invalid(*errors: dict) -> Response:
    return Response(422, {"detail": list(errors)})


def detail(status: int, message: str) -> Response:
    return Response(status, {"detail": message})


class InvexWire:
    exchange = "invex"

    def __init__(self, engine: Engine, variants: Variants) -> None:
        self.engine = engine
        self.variants = variants
        self._seen_signatures: dict[str, float] = {}  # replay protection: sig -> expiry

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

    def too_many(self, back_off: int, limit: int) -> Response:
        # "strict" rate limits, no numbers and no back-off documented.
        return detail(429, "Too Many Requests")

    def rate_headers(self, limit: int, remaining: int) -> dict[str, str]:
        return {}

    def not_found(self) -> Response:
        return detail(404, "Not Found")

    # -- signing --------------------------------------------------------------------

    def _zone(self) -> str:
        return self.variants["invex-expire-tz"]

    def _signed(self, req: Request, *, trade: bool = False) -> tuple[str | None, dict,
                                                                      Response | None]:
        """(api key, parameters, refusal): checks the key, expire_at and the signature."""
        key = self.api_key(req)
        if key is None:
            return None, {}, detail(403, "Not authenticated")
        account = self.engine.accounts.get(key)
        if account is None:
            return None, {}, detail(401, "Invalid API key")
        where = "body" if req.method == "POST" else "query"
        if req.method == "POST":
            params = req.json_body()
            try:
                signed = json.loads(req.body or b"{}")
            except ValueError:
                signed = None
            if params is None or not isinstance(signed, dict):
                return None, {}, invalid(error(["body"], "value is not a valid dict",
                                               "type_error.dict"))
        else:
            params = dict(req.query)
            signed = {}
            for name, value in req.query_items:  # in the order they arrived
                signed.setdefault(name, value)
        missing = [f for f in ("expire_at", "signature") if not params.get(f)]
        if missing:
            return None, {}, invalid(*(error([where, f], "field required", "value_error.missing")
                                       for f in missing))
        expires = parse_time(str(params["expire_at"]), self._zone())
        if expires is None:
            return None, {}, invalid(error([where, "expire_at"], "invalid datetime format",
                                           "value_error.datetime"))
        now = datetime.now(UTC)
        if expires < now:
            return None, {}, invalid(error([where, "expire_at"], "request has expired",
                                           "value_error.expired"))
        if expires > now + MAX_FUTURE:
            return None, {}, invalid(error([where, "expire_at"],
                                           "expire_at is too far in the future",
                                           "value_error.expire_at"))
        signature = str(params["signature"])
        if not account.public_key_hex or not verify(signed, signature, account.public_key_hex,
                                                    self.variants["invex-signing"]):
            return None, {}, invalid(error([where, "signature"], "invalid signature",
                                           "value_error.signature"))
        # README_EN: "Our systems detect and block attempts to reuse previously sent
        # messages."
        clock = time.time()
        for old in [s for s, until in self._seen_signatures.items() if until < clock]:
            del self._seen_signatures[old]
        if signature in self._seen_signatures:
            return None, {}, invalid(error([where, "signature"], "this signed request was "
                                           "already used", "value_error.replay"))
        self._seen_signatures[signature] = expires.timestamp()
        if trade and not self.engine.can_trade(key):
            return None, {}, detail(403, "This API key has no trade permission")
        return key, params, None

    # -- public ---------------------------------------------------------------------

    def depth(self, req: Request) -> Response:
        symbol = req.query.get("symbol") or ""
        depth = req.query.get("depth") or ""
        errors = []
        if symbol not in self.engine.markets:
            errors.append(error(["query", "symbol"], "value is not a valid enumeration member",
                                "type_error.enum"))
        if depth not in ("5", "20", "50"):
            errors.append(error(["query", "depth"], "value is not a valid enumeration member; "
                                "permitted: '5', '20', '50'", "type_error.enum"))
        if errors:
            return invalid(*errors)
        asks, bids = self.engine.served(symbol, int(depth))
        side = lambda levels: [  # noqa: E731
            {"depth": i, "price": fmt(p), "quantity": fmt(q)} for i, (p, q) in enumerate(levels, 1)
        ]
        return Response(200, {"ask_orders": side(asks), "bid_orders": side(bids)})

    def markets(self, req: Request) -> Response:
        # Public in the swagger file (no security, no parameters); the README's example
        # writes decimals with 18 places.
        def d18(value: Decimal | None) -> str | None:
            return None if value is None else str(value.quantize(EIGHTEEN,
                                                                  context=Context(prec=60)))

        return Response(200, {"rules": [
            {"symbol": self._symbol(m.symbol), "tick_size": d18(m.tick),
             "amount_step_size": d18(m.step),
             "minimum_limit_order_value": d18(m.min_notional),
             "maximum_limit_order_value": d18(m.max_notional)}
            for m in self.engine.markets.values()
        ]})

    # -- private --------------------------------------------------------------------

    def place(self, req: Request) -> Response:
        key, p, refusal = self._signed(req, trade=True)
        if refusal:
            return refusal
        names = ORDER_FIELDS[self.variants["invex-order-fields"]]
        errors = [error(["body", names[f]], "field required", "value_error.missing")
                  for f in ("symbol", "side", "type") if p.get(names[f]) in (None, "")]
        if p.get("quantity") in (None, ""):
            errors.append(error(["body", "quantity"], "field required", "value_error.missing"))
        if errors:
            return invalid(*errors)
        symbol, side, kind = (str(p[names[f]]) for f in ("symbol", "side", "type"))
        if symbol not in self.engine.markets:
            errors.append(error(["body", names["symbol"]],
                                "value is not a valid enumeration member", "type_error.enum"))
        if side not in ("BUYER", "SELLER"):
            errors.append(error(["body", names["side"]], "value is not a valid enumeration "
                                "member; permitted: 'BUYER', 'SELLER'", "type_error.enum"))
        if kind not in ("LIMIT", "MARKET"):
            errors.append(error(["body", names["type"]], "value is not a valid enumeration "
                                "member; permitted: 'LIMIT', 'MARKET'", "type_error.enum"))
        quantity = dec(p.get("quantity"))
        if quantity is None or quantity <= 0:
            errors.append(error(["body", "quantity"], "ensure this value is greater than 0",
                                "value_error.number.not_gt"))
        price = dec(p.get("price")) if p.get("price") not in (None, "") else None
        if kind == "LIMIT" and (price is None or price <= 0):
            errors.append(error(["body", "price"], "ensure this value is greater than 0",
                                "value_error.number.not_gt"))
        if errors:
            return invalid(*errors)
        client_id = p.get(names["client_order_id"])
        if client_id is not None and not isinstance(client_id, str):
            return invalid(error(["body", names["client_order_id"]], "str type expected",
                                 "type_error.str"))  # StrictStr
        try:
            order = self.engine.place(
                key, symbol=symbol, side="buy" if side == "BUYER" else "sell",
                kind=kind.lower(), amount=quantity, price=price if kind == "LIMIT" else None,
                client_id=client_id or None,
            )
        except EngineError as exc:
            field = {"amount_precision": "quantity", "invalid_amount": "quantity",
                     "price_precision": "price", "invalid_price": "price", "bad_price": "price",
                     "duplicate_client_id": names["client_order_id"],
                     "unknown_market": names["symbol"]}.get(exc.code, "__root__")
            return invalid(error(["body", field], exc.message,
                                 ERROR_TYPES.get(exc.code, "value_error")))
        return Response(200, {"order_id": order.uuid})

    def status(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        order = self._find(key, p)
        if isinstance(order, Response):
            return order
        return Response(200, self.order_json(order, with_trades=True))

    def cancel(self, req: Request) -> Response:
        key, p, refusal = self._signed(req, trade=True)
        if refusal:
            return refusal
        order = self._find(key, p)
        if isinstance(order, Response):
            return order
        try:
            self.engine.cancel(order)
        except EngineError as exc:
            return invalid(error(["query", "order_id"], "order is not open",
                                 ERROR_TYPES[exc.code]))
        return Response(200, {"cancel_order_id": order.cancel_id})

    def search(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        errors = []
        try:
            page = int(p.get("page") or 1)
        except ValueError:
            page = 0
            errors.append(error(["query", "page"], "value is not a valid integer",
                                "type_error.integer"))
        try:
            page_size = int(p.get("page_size") or 10)  # swagger: default 10, maximum 100
        except ValueError:
            page_size = 10
            errors.append(error(["query", "page_size"], "value is not a valid integer",
                                "type_error.integer"))
        if page_size > 100:
            errors.append(error(["query", "page_size"], "ensure this value is less than or "
                                "equal to 100", "value_error.number.not_le"))
        if page < 1 and not errors:
            errors.append(error(["query", "page"], "ensure this value is greater than 0",
                                "value_error.number.not_gt"))
        if p.get("status") and p["status"] not in STATUSES:
            errors.append(error(["query", "status"], "value is not a valid enumeration member",
                                "type_error.enum"))
        if p.get("symbol") and p["symbol"] not in self.engine.markets:
            errors.append(error(["query", "symbol"], "value is not a valid enumeration member",
                                "type_error.enum"))
        bounds = {}
        for name in ("start_at", "end_at"):
            if p.get(name):
                parsed = parse_time(str(p[name]), self._zone())
                if parsed is None:
                    errors.append(error(["query", name], "invalid datetime format",
                                        "value_error.datetime"))
                else:
                    bounds[name] = parsed.timestamp()
        if errors:
            return invalid(*errors)
        orders = [
            o for o in self.engine.account_orders(key)
            if (not p.get("symbol") or o.symbol == p["symbol"])
            and (not p.get("side") or _side(o) == p["side"])
            and (not p.get("type") or o.kind.upper() == p["type"])
            and (not p.get("status") or self._status(o) == p["status"])
            and ("start_at" not in bounds or o.created_at >= bounds["start_at"])
            and ("end_at" not in bounds or o.created_at <= bounds["end_at"])
        ]
        orders.sort(key=lambda o: (o.created_at, o.id), reverse=True)
        chunk = orders[(page - 1) * page_size: page * page_size]
        return Response(200, {"orders": [self.order_json(o) for o in chunk],
                              "total_count": len(orders)})

    def accounts(self, req: Request) -> Response:
        key, p, refusal = self._signed(req)
        if refusal:
            return refusal
        currency = str(p.get("currency") or "")
        if not CURRENCY.match(currency):
            return invalid(error(["query", "currency"], "value is not a valid enumeration member",
                                 "type_error.enum"))
        wallet = self.engine.wallet(key)
        total = wallet.total.get(currency, Decimal(0))
        blocked = wallet.blocked.get(currency, Decimal(0))
        return Response(200, {"currency": currency, "available": fmt(total - blocked),
                              "blocked": fmt(blocked), "total": fmt(total)})

    # -- shapes ---------------------------------------------------------------------

    def _symbol(self, symbol: str) -> str | dict:
        if self.variants.is_("invex-symbol", "object"):  # swagger: anyOf BaseMarketDTO
            mkt = self.engine.markets[symbol]
            return {"code": symbol, "base_currency_type": mkt.base_currency,
                    "quote_currency_type": mkt.quote_currency}
        return symbol

    def _time(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, ZONES[self._zone()]).isoformat()

    def _status(self, order: Order) -> str:
        if order.status == "filled":
            return "FULL_FILLED"
        if order.status == "canceled":
            return "CANCELED_BY_USER" if order.canceled_by == "user" else "CANCELED_BY_SYSTEM"
        return "NOT_FILLED"

    def order_json(self, order: Order, *, with_trades: bool = False) -> dict:
        out = {
            "order_id": order.uuid,
            "symbol": self._symbol(order.symbol),
            "status": self._status(order),
            "type": order.kind.upper(),
            "side": _side(order),
            "price": fmt(order.price if order.price is not None else order.average_price),
            "quantity": fmt(order.amount),
            "deal_quantity": fmt(order.filled),
            "time_in_force": "GTC",
            "client_order_id": order.client_id,
            "cancel_order_id": order.cancel_id,
            "created_at": self._time(order.created_at),
            "updated_at": self._time(order.updated_at),
        }
        if with_trades:
            out["trades"] = [
                {"type": "MAKER" if f.maker else "TAKER", "quantity": fmt(f.amount),
                 "fee": fmt(f.fee), "price": fmt(f.price), "created_at": self._time(f.at)}
                for f in order.fills
            ]
        return out

    def _find(self, key: str, p: dict) -> Order | Response:
        if p.get("order_id"):
            try:
                wanted = str(uuid.UUID(str(p["order_id"])))
            except ValueError:
                return invalid(error(["query", "order_id"], "value is not a valid uuid",
                                     "type_error.uuid"))
            order = self.engine.find(key, order_uuid=wanted)
        elif p.get("client_order_id"):
            order = self.engine.find(key, client_id=str(p["client_order_id"]))
        else:
            return invalid(error(["query", "order_id"], "send order_id or client_order_id",
                                 "value_error.missing"))
        return order if order is not None else detail(404, "Order not found")


def _side(order: Order) -> str:
    return "BUYER" if order.side == "buy" else "SELLER"
