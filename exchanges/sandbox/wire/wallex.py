"""Wallex's wire format (api-docs.wallex.ir, 2022), prices in toman for TMN markets.

Every answer is the envelope ``{"result":…,"message":…,"success":…}``; refusals add a
machine ``code`` beside ``success: false``. Orders are known by client order id only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from ..engine import Engine, EngineError, Fill, Order
from .common import Request, Response, Route, dec, fmt

OK = "The operation was successful"
ERROR_CODES = {
    "unknown_market": "InvalidSymbol",
    "invalid": "InvalidParameters",
    "invalid_amount": "InvalidQuantity",
    "invalid_price": "InvalidPrice",
    "bad_price": "InvalidPrice",
    "small_order": "MinNotional",
    "large_order": "MaxNotional",
    "insufficient": "InsufficientBalance",
    "duplicate_client_id": "DuplicateClientOrderId",
    "amount_precision": "InvalidStepSize",
    "price_precision": "InvalidTickSize",
    "not_open": "OrderNotOpen",
}
FA_NAMES = {"TMN": "تومان", "BTC": "بیت کوین", "ETH": "اتریوم", "USDT": "تتر"}


def ok(result: object) -> Response:
    return Response(200, {"result": result, "message": OK, "success": True})


def failed(status: int, code: str, message: str) -> Response:
    return Response(status, {"result": {}, "message": message, "success": False, "code": code})


def _places(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)


class WallexWire:
    exchange = "wallex"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resolve(self, method: str, path: str) -> Route | None:
        path = path.rstrip("/") or "/"
        if method == "GET" and path.startswith("/v1/account/orders/"):
            return Route("status", self.status)
        routes = {
            ("GET", "/v1/depth"): Route("depth", self.depth),
            ("GET", "/v1/markets"): Route("markets", self.markets),
            ("POST", "/v1/account/orders"): Route("place", self.place, places_order=True),
            ("DELETE", "/v1/account/orders"): Route("cancel", self.cancel),
            ("GET", "/v1/account/openOrders"): Route("open_orders", self.open_orders),
            ("GET", "/v1/account/balances"): Route("balances", self.balances),
            ("GET", "/v1/account/fee"): Route("fee", self.fee),
            ("GET", "/v1/account/trades"): Route("trades", self.trades),
        }
        return routes.get((method, path))

    def api_key(self, req: Request) -> str | None:
        return (req.header("x-api-key") or "").strip() or None

    def unauthorized(self) -> Response:
        return failed(401, "Unauthenticated", "Invalid or missing API key")

    def too_many(self, back_off: int, limit: int) -> Response:
        resp = failed(429, "TooManyRequests", f"Too many requests; retry in {back_off} s")
        resp.headers["Retry-After"] = str(back_off)
        return resp

    def not_found(self) -> Response:
        return failed(404, "NotFound", "Not found")

    def _account(self, req: Request) -> str | None:
        key = self.api_key(req)
        return key if key in self.engine.accounts else None

    # -- public ---------------------------------------------------------------------

    def depth(self, req: Request) -> Response:
        symbol = (req.query.get("symbol") or "").upper()
        if symbol not in self.engine.markets:
            return failed(400, "InvalidSymbol", f"Invalid symbol {symbol}")
        asks, bids = self.engine.book(symbol).snapshot()
        side = lambda levels: [  # noqa: E731
            {"price": fmt(p), "quantity": fmt(q), "sum": fmt(p * q)} for p, q in levels
        ]
        return ok({"ask": side(asks), "bid": side(bids)})

    def markets(self, req: Request) -> Response:
        symbols = {}
        for m in self.engine.markets.values():
            symbols[m.symbol] = {
                "symbol": m.symbol,
                "baseAsset": m.base_currency,
                "quoteAsset": m.quote_currency,
                "faName": f"{FA_NAMES[m.base_currency]} - {FA_NAMES[m.quote_currency]}",
                "enName": f"{m.base_currency}/{m.quote_currency}",
                "stepSize": _places(m.step),
                "tickSize": _places(m.tick),
                "minQty": fmt(m.step),
                "maxQty": "1000000",
                "minNotional": fmt(m.min_notional),
                "maxNotional": fmt(m.max_notional),
            }
        return ok({"symbols": symbols})

    # -- private --------------------------------------------------------------------

    def place(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.json_body()
        if p is None:
            return failed(400, "InvalidParameters", "Malformed JSON body")
        kind = str(p.get("type") or "").upper()
        side = str(p.get("side") or "").upper()
        if kind not in ("LIMIT", "MARKET") or side not in ("BUY", "SELL"):
            return failed(400, "InvalidParameters", "type must be LIMIT|MARKET, side BUY|SELL")
        client_id = p.get("client_id") or p.get("clientOrderId")
        client_id = str(client_id) if client_id else f"{kind}-{uuid.uuid4()}"
        try:
            order = self.engine.place(
                key, symbol=str(p.get("symbol") or "").upper(), side=side.lower(),
                kind=kind.lower(), amount=dec(p.get("quantity")),
                price=dec(p.get("price")) if kind == "LIMIT" else None, client_id=client_id,
            )
        except EngineError as exc:
            status = 409 if exc.code == "duplicate_client_id" else 400
            return failed(status, ERROR_CODES.get(exc.code, "InvalidParameters"), exc.message)
        return ok(self.order_json(order))

    def status(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        client_id = req.path.rstrip("/").rsplit("/", 1)[-1]
        order = self.engine.find(key, client_id=client_id)
        if order is None:
            return failed(404, "OrderNotFound", f"Order {client_id} not found")
        return ok(self.order_json(order))

    def cancel(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.params()
        client_id = p.get("clientOrderId") or p.get("client_id")
        if not client_id:
            return failed(400, "InvalidParameters", "clientOrderId is required")
        order = self.engine.find(key, client_id=str(client_id))
        if order is None:
            return failed(404, "OrderNotFound", f"Order {client_id} not found")
        try:
            self.engine.cancel(order)
        except EngineError as exc:
            return failed(400, ERROR_CODES[exc.code], f"Order is already {order.status}")
        return ok(self.order_json(order))

    def open_orders(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        symbol = (req.query.get("symbol") or "").upper()
        orders = [o for o in self.engine.account_orders(key)
                  if o.is_open and (not symbol or o.symbol == symbol)]
        return ok({"orders": [self.order_json(o) for o in orders]})

    def balances(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        wallet = self.engine.wallet(key)
        balances = {}
        for asset in sorted(set(wallet.total) | set(wallet.blocked)):
            balances[asset] = {
                "asset": asset,
                "faName": FA_NAMES.get(asset, asset),
                "fiat": asset == "TMN",
                "value": fmt(wallet.total.get(asset, Decimal(0))),
                "locked": fmt(wallet.blocked.get(asset, Decimal(0))),
            }
        return ok({"balances": balances})

    def fee(self, req: Request) -> Response:
        if self._account(req) is None:
            return self.unauthorized()
        return ok({
            m.symbol: {"makerFeeRate": fmt(self.engine.maker_fee),
                       "takerFeeRate": fmt(self.engine.taker_fee), "recent_days_sum": "0"}
            for m in self.engine.markets.values()
        })

    def trades(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        symbol = (req.query.get("symbol") or "").upper()
        side = (req.query.get("side") or "").lower()
        by_id = {o.id: o for o in self.engine.account_orders(key)}
        fills = [f for f in self.engine.account_fills(key)
                 if (not symbol or f.symbol == symbol) and (not side or f.side == side)]
        fills.sort(key=lambda f: f.trade_id, reverse=True)
        return ok({"AccountLatestTrades": [
            {**self.fill_json(f), "clientOrderId": by_id[f.order_id].client_id} for f in fills
        ]})

    # -- shapes ---------------------------------------------------------------------

    def order_json(self, order: Order) -> dict:
        status = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED"}[order.status]
        if order.status == "open" and order.filled > 0:
            status = "PARTIALLY_FILLED"
        return {
            "symbol": order.symbol,
            "type": order.kind.upper(),
            "side": order.side.upper(),
            "clientOrderId": order.client_id,
            "transactTime": int(order.created_at),
            "price": fmt(order.price if order.price is not None else order.average_price),
            "origQty": fmt(order.amount),
            "origSum": fmt(order.amount * order.price) if order.price else None,
            "executedPrice": fmt(order.average_price),
            "executedQty": fmt(order.filled),
            "executedSum": fmt(order.filled_total),
            "executedPercent": fmt(order.filled * 100 / order.amount),
            "status": status,
            "active": order.is_open,
            "fills": [self.fill_json(f) for f in order.fills],
        }

    def fill_json(self, fill: Fill) -> dict:
        return {
            "tradeId": fill.trade_id,
            "symbol": fill.symbol,
            "side": fill.side.upper(),
            "isBuyer": fill.side == "buy",
            "price": fmt(fill.price),
            "quantity": fmt(fill.amount),
            "sum": fmt(fill.total),
            "fee": fmt(fill.fee),
            "feeAsset": fill.fee_currency,
            "feeCoefficient": fmt(self.engine.maker_fee if fill.maker else self.engine.taker_fee),
            "makerType": "MAKER" if fill.maker else "TAKER",
            "timestamp": _iso_z(fill.at),
        }


def _iso_z(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
