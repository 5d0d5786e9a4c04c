"""Wallex's wire format: the new docs (developers.wallex.ir, api-docs.wallex.ir) where they
speak, the 2022 edition and the ``darhelm/go-wallex`` SDK where they do not; prices in
toman for TMN markets.

Every answer is the envelope ``{"success", "message", "result"}``; refusals carry the
documented HTTP statuses (400, 401, 402 insufficient balance, 403, 404, 409 duplicate
client id, 422, 429) and a numeric ``code`` (undocumented, go-wallex ``errors.go`` shows
numbers). Orders are known by client id only. WIRE.md lists the sources and variants.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from ..engine import ZERO, Engine, EngineError, Fill, Order
from ..variants import Variants
from .common import Request, Response, Route, dec, fmt

OK = "عملیات با موفقیت انجام شد"  # the new docs' examples (basic-services-account-fee)
CLIENT_ID_STRICT = re.compile(r"^[A-Z0-9_]+$")  # spot-create-order: A-Z, 0-9 and _
CLIENT_ID_MAX = 64  # undocumented (chosen)
OPEN_PAGE_DEFAULT, OPEN_PAGE_MAX = 20, 100  # undocumented (chosen)
TRADES_LATEST = 100  # "AccountLatestTrades": how many (chosen)
# HTTP status and numeric code per refusal; the codes are the sandbox's own.
ERRORS = {
    "unknown_market": (400, 1101),
    "invalid": (400, 1102),
    "invalid_amount": (400, 1103),
    "invalid_price": (400, 1104),
    "amount_precision": (400, 1105),
    "price_precision": (400, 1106),
    "bad_price": (422, 1201),
    "small_order": (422, 1202),
    "large_order": (422, 1203),
    "insufficient": (402, 1301),
    "duplicate_client_id": (409, 1401),
    "not_open": (422, 1501),
}
FA_NAMES = {"TMN": "تومان", "BTC": "بیت کوین", "ETH": "اتریوم", "USDT": "تتر"}
EN_NAMES = {"TMN": "Toman", "BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether"}


def ok(result: object, status: int = 200) -> Response:
    return Response(status, {"success": True, "message": OK, "result": result})


def failed(status: int, code: int, message: str) -> Response:
    return Response(status, {"success": False, "code": code, "message": message, "result": {}})


def _places(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)


def _iso(ts: float) -> str:
    # The docs' data types: "2024-05-01T12:34:56Z".
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WallexWire:
    exchange = "wallex"

    def __init__(self, engine: Engine, variants: Variants) -> None:
        self.engine = engine
        self.variants = variants

    def resolve(self, method: str, path: str) -> Route | None:
        path = path.rstrip("/") or "/"
        if path.startswith("/v1/account/orders/"):
            if method == "GET":
                return Route("status", self.status)
            if method == "DELETE" and self.variants.is_("wallex-cancel", "path"):
                return Route("cancel", self.cancel)
            return None
        routes = {
            ("GET", "/v1/depth"): Route("depth", self.depth),
            ("GET", "/v2/depth/all"): Route("depth", self.depth_all),
            ("GET", "/v1/markets"): Route("markets", self.markets),
            ("POST", "/v1/account/orders"): Route("place", self.place, places_order=True),
            ("GET", "/v1/account/orders"): Route("history", self.history),
            ("GET", "/v1/account/openOrders"): Route("open_orders", self.open_orders),
            ("GET", "/v1/account/balances"): Route("balances", self.balances),
            ("GET", "/v1/account/fee"): Route("fee", self.fee),
            ("GET", "/v1/account/trades"): Route("trades", self.trades),
        }
        if self.variants.is_("wallex-cancel", "query"):
            routes[("DELETE", "/v1/account/orders")] = Route("cancel", self.cancel)
        return routes.get((method, path))

    def api_key(self, req: Request) -> str | None:
        return (req.header("x-api-key") or "").strip() or None

    def too_many(self, back_off: int, limit: int) -> Response:
        # Status 429 per the error table; no back-off value is documented.
        return failed(429, 1601, "Too many requests")

    def rate_headers(self, limit: int, remaining: int) -> dict[str, str]:
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining)}

    def not_found(self) -> Response:
        return failed(404, 1001, "Not found")

    def _account(self, req: Request, *, trade: bool = False) -> tuple[str | None,
                                                                       Response | None]:
        key = self.api_key(req)
        if key not in self.engine.accounts:
            return None, failed(401, 1002, "Unauthenticated: invalid or missing X-API-Key")
        if trade and not self.engine.can_trade(key):
            return None, failed(403, 1003, "This API key has no trade permission")
        return key, None

    def _n(self, value: Decimal) -> str | float | int:
        """A number as the ``wallex-numbers`` variant writes it in depth and markets."""
        if self.variants.is_("wallex-numbers", "number"):
            return int(value) if value == value.to_integral_value() else float(value)
        return fmt(value)

    # -- public ---------------------------------------------------------------------

    def depth(self, req: Request) -> Response:
        symbol = (req.query.get("symbol") or "").upper()
        if not symbol:
            return failed(400, 1101, "symbol is required")
        if symbol not in self.engine.markets:
            return failed(400, 1101, f"Invalid symbol {symbol}")
        return ok(self._book(symbol))

    def depth_all(self, req: Request) -> Response:
        return ok({symbol: self._book(symbol) for symbol in self.engine.markets})

    def _book(self, symbol: str) -> dict:
        asks, bids = self.engine.served(symbol)
        side = lambda levels: [  # noqa: E731
            {"price": self._n(p), "quantity": self._n(q), "sum": fmt(p * q)} for p, q in levels
        ]
        return {"ask": side(asks), "bid": side(bids)}

    def markets(self, req: Request) -> Response:
        symbols = {}
        for m in self.engine.markets.values():
            book = self.engine.book(m.symbol)
            symbols[m.symbol] = {
                "symbol": m.symbol,
                "baseAsset": m.base_currency,
                "baseAssetPrecision": _places(m.step),
                "quoteAsset": m.quote_currency,
                "quotePrecision": _places(m.tick),
                "faName": f"{FA_NAMES[m.base_currency]} - {FA_NAMES[m.quote_currency]}",
                "faBaseAsset": FA_NAMES[m.base_currency],
                "faQuoteAsset": FA_NAMES[m.quote_currency],
                "enName": f"{EN_NAMES[m.base_currency]} / {EN_NAMES[m.quote_currency]}",
                "enBaseAsset": EN_NAMES[m.base_currency],
                "enQuoteAsset": EN_NAMES[m.quote_currency],
                "stepSize": _places(m.step),  # decimal places, not a step
                "tickSize": _places(m.tick),
                "minQty": self._n(m.step),
                "maxQty": self._n(Decimal("1000000")),
                "minNotional": self._n(m.min_notional),
                "stats": {"bidPrice": fmt(book.best_bid()), "askPrice": fmt(book.best_ask()),
                          "lastPrice": fmt(book.mid()), "24h_ch": 0, "7d_ch": 0,
                          "24h_volume": "0", "7d_volume": "0", "24h_quoteVolume": "0",
                          "24h_highPrice": fmt(book.best_ask()),
                          "24h_lowPrice": fmt(book.best_bid()), "lastQty": "0",
                          "lastTradeSide": "BUY", "bidVolume": "0", "askVolume": "0",
                          "bidCount": 0, "askCount": 0, "direction": {"SELL": 50, "BUY": 50}},
                "createdAt": "2021-01-01T00:00:00Z",
                "isNew": False,
                "isZeroFee": False,
                "isMarketTypeEnable": True,
            }
        return ok({"symbols": symbols})

    # -- orders ---------------------------------------------------------------------

    def place(self, req: Request) -> Response:
        key, refusal = self._account(req, trade=True)
        if refusal:
            return refusal
        p = req.json_body()
        if p is None:
            return failed(400, 1100, "Malformed JSON body")
        symbol = str(p.get("symbol") or "").upper()
        kind = str(p.get("type") or "").upper()
        side = str(p.get("side") or "").upper()
        if not symbol or not p.get("quantity"):
            return failed(400, 1100, "symbol, type, side and quantity are required")
        if kind not in ("LIMIT", "MARKET") or side not in ("BUY", "SELL"):
            return failed(400, 1102, "type must be LIMIT or MARKET, side BUY or SELL")
        raw_client_id = p.get("client_id")  # spot-create-order names it client_id
        if raw_client_id in (None, ""):
            client_id = f"{kind}-{uuid.uuid4()}"  # what Wallex makes, as in its example
        else:
            client_id = str(raw_client_id)
            problem = self._bad_client_id(client_id)
            if problem:
                return failed(400, 1107, problem)
        try:
            order = self.engine.place(
                key, symbol=symbol, side=side.lower(), kind=kind.lower(),
                amount=dec(p.get("quantity")),
                price=dec(p.get("price")) if kind == "LIMIT" else None, client_id=client_id,
            )
        except EngineError as exc:
            status, code = ERRORS.get(exc.code, (400, 1100))
            return failed(status, code, exc.message)
        return ok(self.order_json(order), status=201)  # spot-create-order: 201 Created

    def _bad_client_id(self, client_id: str) -> str | None:
        if len(client_id) > CLIENT_ID_MAX:
            return f"client_id is longer than {CLIENT_ID_MAX} characters"
        if self.variants.is_("wallex-client-id", "strict") and not CLIENT_ID_STRICT.match(
                client_id):
            return "client_id may contain only A-Z, 0-9 and _"
        return None

    def status(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        client_id = req.path.rstrip("/").rsplit("/", 1)[-1]
        order = self.engine.find(key, client_id=client_id)
        if order is None:
            return failed(404, 1004, "Order not found")  # generated-get-orders-client
        return ok(self.order_json(order))

    def cancel(self, req: Request) -> Response:
        key, refusal = self._account(req, trade=True)
        if refusal:
            return refusal
        if self.variants.is_("wallex-cancel", "path"):
            client_id = req.path.rstrip("/").rsplit("/", 1)[-1]  # new docs' cancel page
        else:
            p = req.params()  # query (old docs, go-wallex) or body (one edition)
            client_id = p.get("clientOrderId")
            if not client_id:
                return failed(400, 1100, "clientOrderId is required")
        order = self.engine.find(key, client_id=str(client_id))
        if order is None:
            return failed(404, 1004, "Order not found")
        try:
            self.engine.cancel(order)
        except EngineError:
            return failed(422, 1501, "Order is not active")
        return ok(self.order_json(order, cancel_answer=True))

    def open_orders(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        symbol = (req.query.get("symbol") or "").upper()
        orders = [o for o in self.engine.account_orders(key)
                  if o.is_open and (not symbol or o.symbol == symbol)]
        return self._paged(req, orders)

    def history(self, req: Request) -> Response:
        """GET /v1/account/orders (spot-order-list): from, to, page, per_page, type, side,
        market."""
        key, refusal = self._account(req)
        if refusal:
            return refusal
        q = req.query
        start, end = _when(q.get("from")), _when(q.get("to"))
        if (q.get("from") and start is None) or (q.get("to") and end is None):
            return failed(400, 1100, "from and to are unix seconds or ISO 8601 times")
        market = (q.get("market") or "").upper()
        kind, side = (q.get("type") or "").upper(), (q.get("side") or "").upper()
        orders = [
            o for o in self.engine.account_orders(key)
            if (not market or o.symbol == market) and (not kind or o.kind.upper() == kind)
            and (not side or o.side.upper() == side)
            and (start is None or o.created_at >= start) and (end is None or o.created_at <= end)
        ]
        return self._paged(req, orders)

    def _paged(self, req: Request, orders: list[Order]) -> Response:
        try:
            page = int(req.query.get("page") or 1)
            per_page = int(req.query.get("per_page") or OPEN_PAGE_DEFAULT)
        except ValueError:
            return failed(400, 1100, "page and per_page must be integers")
        if page < 1 or not 1 <= per_page <= OPEN_PAGE_MAX:
            return failed(400, 1100, f"page >= 1 and 1 <= per_page <= {OPEN_PAGE_MAX}")
        orders = sorted(orders, key=lambda o: o.id, reverse=True)
        chunk = orders[(page - 1) * per_page: page * per_page]
        if self.variants.is_("wallex-open-orders", "list"):
            return ok({"orders": [self.order_json(o) for o in chunk]})  # the 2022 edition
        grouped: dict[str, list] = {}
        for order in chunk:  # the new docs: a map of lists, here keyed by symbol
            grouped.setdefault(order.symbol, []).append(self.order_json(order))
        return ok(grouped)

    # -- account --------------------------------------------------------------------

    def balances(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        wallet = self.engine.wallet(key)
        available = self.variants.is_("wallex-balance-value", "available")
        balances = {}
        for asset in sorted(set(wallet.total) | set(wallet.blocked)):
            total = wallet.total.get(asset, ZERO)
            locked = wallet.blocked.get(asset, ZERO)
            balances[asset] = {
                "asset": asset,
                "faName": FA_NAMES.get(asset, asset),
                "fiat": asset == "TMN",
                "value": fmt(total - locked if available else total),
                "locked": fmt(locked),
            }
        return ok({"balances": balances})

    def fee(self, req: Request) -> Response:
        refusal = self._account(req)[1]
        if refusal:
            return refusal
        eight = Decimal("0.00000001")
        return ok({
            m.symbol: {"makerFeeRate": str(self.engine.maker_fee.quantize(eight)),
                       "takerFeeRate": str(self.engine.taker_fee.quantize(eight)),
                       "recent_days_sum": 0}
            for m in self.engine.markets.values()
        })

    def trades(self, req: Request) -> Response:
        """GET /v1/account/trades: the latest fills, with neither order id nor trade id."""
        key, refusal = self._account(req)
        if refusal:
            return refusal
        symbol = (req.query.get("symbol") or "").upper()
        side = (req.query.get("side") or "").lower()
        fills = [f for f in self.engine.account_fills(key)
                 if (not symbol or f.symbol == symbol) and (not side or f.side == side)]
        fills.sort(key=lambda f: (f.at, f.trade_id), reverse=True)
        return ok({"AccountLatestTrades": [self.fill_json(f) for f in fills[:TRADES_LATEST]]})

    # -- shapes ---------------------------------------------------------------------

    def _status(self, order: Order, cancel_answer: bool) -> str:
        finished = self.variants["wallex-finished"]
        if not order.is_open and (finished == "all-closed"
                                  or (finished == "cancel-answer" and cancel_answer)):
            return "FINISHED"
        if order.is_open:
            if order.cancel_due is not None:
                return "NEW"
            partial = order.filled > 0 and self.variants.is_("wallex-partial-status",
                                                             "partially-filled")
            return "PARTIALLY_FILLED" if partial else "NEW"
        return "FILLED" if order.status == "filled" else "CANCELED"

    def order_json(self, order: Order, *, cancel_answer: bool = False) -> dict:
        percent = order.filled * 100 / order.amount
        return {
            "symbol": order.symbol,
            "type": order.kind.upper(),
            "side": order.side.upper(),
            "clientOrderId": order.client_id,
            "transactTime": 0,  # shown as 0 in the new docs; created_at carries the time
            "price": fmt(order.price if order.price is not None else order.average_price),
            "origQty": fmt(order.amount),
            "origSum": fmt(order.amount * order.price) if order.price else fmt(
                order.filled_total),
            "executedPrice": fmt(order.average_price),
            "executedQty": fmt(order.filled),
            "executedSum": fmt(order.filled_total),
            "executedPercent": self._n(percent),
            "status": self._status(order, cancel_answer),
            "active": order.is_open,
            "fills": [self.fill_json(f) for f in order.fills],
            "created_at": _iso(order.created_at),
            "updated_at": _iso(order.updated_at),
        }

    def fill_json(self, fill: Fill) -> dict:
        """A fill as in an order's fills[] and the trades list: no trade id, no order id."""
        return {
            "symbol": fill.symbol,
            "price": fmt(fill.price),
            "quantity": fmt(fill.amount),
            "sum": fmt(fill.total),
            "fee": fmt(fill.fee),
            "feeAsset": fill.fee_currency,
            "feeCoefficient": fmt(self.engine.maker_fee if fill.maker else self.engine.taker_fee),
            "isBuyer": fill.side == "buy",
            "timestamp": _iso(fill.at),
        }


def _when(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
