"""Nobitex's wire format (docs: nobitex/docs-api), prices in rial for IRT markets.

Refusals of an order come as HTTP 200 ``{"status":"failed","code":…,"message":…}`` as the
docs show; a missing order is HTTP 404 with ``code: "NotFound"``; a bad token is 401.
"""

from __future__ import annotations

from decimal import Decimal

from ..books import Book
from ..engine import Engine, EngineError, Fill, Order
from ..markets import Market
from .common import Request, Response, Route, dec, fmt, iso

CURRENCY_NAMES = {"btc": "Bitcoin", "eth": "Ethereum", "usdt": "Tether", "rls": "\ufdfc"}
ERROR_CODES = {
    "unknown_market": "InvalidMarketPair",
    "invalid": "InvalidRequest",
    "invalid_amount": "InvalidOrderAmount",
    "invalid_price": "InvalidOrderPrice",
    "bad_price": "BadPrice",
    "small_order": "SmallOrder",
    "large_order": "OverValueOrder",
    "insufficient": "OverValueOrder",
    "duplicate_client_id": "DuplicateClientOrderId",
    "amount_precision": "InvalidOrderAmount",
    "price_precision": "InvalidOrderPrice",
    "not_open": "InvalidOrderStatus",
}
STATUS = {"open": "Active", "filled": "Done", "canceled": "Canceled"}
LIST_PAGE_DEFAULT, LIST_PAGE_MAX = 100, 1000
TRADES_PAGE_DEFAULT, TRADES_PAGE_MAX = 30, 100


def failed(code: str, message: str, status: int = 200, **extra: object) -> Response:
    return Response(status, {"status": "failed", "code": code, "message": message, **extra})


def too_many(back_off: int, limit: int) -> Response:
    return Response(
        429,
        {"status": "failed", "code": "TooManyRequests",
         "message": "Too many requests; slow down", "backOff": back_off, "limit": limit},
        {"Retry-After": str(back_off)},
    )


def not_found() -> Response:
    return failed("NotFound", "Not found", 404, detail="Not found.")


class NobitexWire:
    exchange = "nobitex"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resolve(self, method: str, path: str) -> Route | None:
        path = path.rstrip("/") or "/"
        if method == "GET" and path.startswith("/v3/orderbook/"):
            return Route("orderbook", self.orderbook)
        routes = {
            ("GET", "/v2/options"): Route("options", self.options),
            ("POST", "/market/orders/add"): Route("place", self.place, places_order=True),
            ("POST", "/market/orders/status"): Route("status", self.status),
            ("POST", "/market/orders/update-status"): Route("cancel", self.cancel),
            ("GET", "/market/orders/list"): Route("list", self.orders_list),
            ("POST", "/market/orders/list"): Route("list", self.orders_list),
            ("GET", "/market/trades/list"): Route("trades", self.trades_list),
            ("GET", "/users/wallets/list"): Route("wallets", self.wallets),
            ("POST", "/users/wallets/list"): Route("wallets", self.wallets),
        }
        return routes.get((method, path))

    def api_key(self, req: Request) -> str | None:
        auth = req.header("authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "token" and token.strip() else None

    def unauthorized(self) -> Response:
        return failed("InvalidToken", "Invalid token.", 401, detail="Invalid token.")

    def too_many(self, back_off: int, limit: int) -> Response:
        return too_many(back_off, limit)

    def not_found(self) -> Response:
        return not_found()

    def _account(self, req: Request) -> str | None:
        key = self.api_key(req)
        return key if key in self.engine.accounts else None

    # -- public ---------------------------------------------------------------------

    def orderbook(self, req: Request) -> Response:
        symbol = req.path.rstrip("/").rsplit("/", 1)[-1].upper()
        if symbol == "ALL":
            books = {s: self._book_json(self.engine.book(s)) for s in self.engine.markets}
            return Response(200, {"status": "ok", **books})
        if symbol not in self.engine.markets:
            return failed("InvalidSymbol", f"Invalid symbol {symbol}", 400)
        return Response(200, {"status": "ok", **self._book_json(self.engine.book(symbol))})

    def _book_json(self, book: Book) -> dict:
        asks, bids = book.snapshot()
        last = book.mid() or Decimal(0)
        return {
            "lastUpdate": book.updated_ms,
            "lastTradePrice": fmt(last.quantize(Decimal(1)) if last >= 1 else last),
            "asks": [[fmt(p), fmt(q)] for p, q in asks],
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
        }

    def options(self, req: Request) -> Response:
        markets = self.engine.markets.values()
        return Response(200, {"status": "ok", "nobitex": {
            "allCurrencies": sorted({m.base_currency for m in markets} | {"rls"}),
            "amountPrecisions": {m.symbol: fmt(m.step) for m in markets},
            "pricePrecisions": {m.symbol: fmt(m.tick) for m in markets},
            "minOrders": {"rls": "3000000", "usdt": "11"},
        }})

    # -- private --------------------------------------------------------------------

    def place(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.json_body()
        if p is None:
            return failed("ParseError", "Malformed JSON body", 400)
        client_id = p.get("clientOrderId") or None
        if client_id is not None and len(str(client_id)) > 32:
            return failed("InvalidClientOrderId", "clientOrderId is longer than 32 characters")
        symbol = self._symbol(p.get("srcCurrency"), p.get("dstCurrency"))
        execution = str(p.get("execution") or "limit").lower()
        price = None if str(p.get("price", "")).lower() in ("", "market") else dec(p.get("price"))
        if execution == "limit" and price is None:
            return failed("InvalidOrderPrice", "Order price is missing or invalid",
                          clientOrderId=client_id)
        try:
            order = self.engine.place(
                key, symbol=symbol, side=str(p.get("type", "")).lower(), kind=execution,
                amount=dec(p.get("amount")), price=price if execution == "limit" else None,
                client_id=client_id, market_guide=price if execution == "market" else None,
            )
        except EngineError as exc:
            return failed(ERROR_CODES.get(exc.code, "InvalidRequest"), exc.message,
                          clientOrderId=client_id)
        return Response(200, {"status": "ok", "order": self.order_json(order)})

    def status(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.params()
        order = self._find(key, p)
        if order is False:
            return failed("NullIdAndClientOrderId", "Send id or clientOrderId", 400)
        if order is None:
            return not_found()
        return Response(200, {"status": "ok", "order": self.order_json(order)})

    def cancel(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.params()
        if str(p.get("status", "")).lower() != "canceled":
            return failed("InvalidOrderStatus", "Only status=canceled is supported here", 400)
        order = self._find(key, {"id": p.get("order"), "clientOrderId": p.get("clientOrderId")})
        if order is False:
            return failed("NullIdAndClientOrderId", "Send order or clientOrderId", 400)
        if order is None:
            return not_found()
        try:
            self.engine.cancel(order)
        except EngineError:
            return failed("InvalidOrderStatus",
                          f"Order is already {STATUS[order.status]}", 200,
                          order=self.order_json(order))
        return Response(200, {"status": "ok", "updatedStatus": "Canceled",
                              "order": self.order_json(order)})

    def orders_list(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.params()
        wanted = str(p.get("status") or "open").lower()
        if wanted not in ("open", "all", "done", "close"):
            return failed("InvalidStatus", f"Unknown status {wanted}", 400)
        orders = self.engine.account_orders(key)
        keep = {
            "open": lambda o: o.is_open,
            "all": lambda o: True,
            "done": lambda o: o.filled > 0,
            "close": lambda o: not o.is_open,
        }[wanted]
        orders = [o for o in orders if keep(o)]
        src, dst = p.get("srcCurrency"), p.get("dstCurrency")
        if src and dst:
            symbol = self._symbol(src, dst)
            orders = [o for o in orders if o.symbol == symbol]
        if p.get("type"):
            orders = [o for o in orders if o.side == str(p["type"]).lower()]
        if p.get("fromId"):
            orders = [o for o in orders if o.id >= int(p["fromId"])]
        orders.sort(key=lambda o: o.created_at, reverse=True)
        page, size = _page(p, LIST_PAGE_DEFAULT, LIST_PAGE_MAX)
        chunk = orders[(page - 1) * size: page * size]
        return Response(200, {"status": "ok", "orders": [self.order_json(o) for o in chunk],
                              "hasNext": len(orders) > page * size})

    def trades_list(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        p = req.params()
        fills = self.engine.account_fills(key)
        src, dst = p.get("srcCurrency"), p.get("dstCurrency")
        if src and dst:
            symbol = self._symbol(src, dst)
            fills = [f for f in fills if f.symbol == symbol]
        if p.get("fromId"):
            fills = [f for f in fills if f.trade_id >= int(p["fromId"])]
        fills.sort(key=lambda f: f.trade_id, reverse=True)
        page, size = _page(p, TRADES_PAGE_DEFAULT, TRADES_PAGE_MAX)
        chunk = fills[(page - 1) * size: page * size]
        return Response(200, {"status": "ok", "trades": [self.trade_json(f) for f in chunk],
                              "hasNext": len(fills) > page * size})

    def wallets(self, req: Request) -> Response:
        key = self._account(req)
        if key is None:
            return self.unauthorized()
        wallet = self.engine.wallet(key)
        entries = []
        for i, currency in enumerate(sorted(set(wallet.total) | set(wallet.blocked)), 1):
            total = wallet.total.get(currency, Decimal(0))
            blocked = wallet.blocked.get(currency, Decimal(0))
            entries.append({"id": i, "currency": currency, "balance": fmt(total),
                            "blockedBalance": fmt(blocked), "activeBalance": fmt(total - blocked)})
        return Response(200, {"status": "ok", "wallets": entries})

    # -- shapes ---------------------------------------------------------------------

    def order_json(self, order: Order) -> dict:
        mkt = self.engine.markets[order.symbol]
        is_market = order.kind == "market"
        return {
            "id": order.id,
            "type": order.side,
            "execution": "Market" if is_market else "Limit",
            "tradeType": "Spot",
            "market": _market_name(mkt),
            "srcCurrency": CURRENCY_NAMES.get(mkt.base_currency, mkt.base_currency),
            "dstCurrency": CURRENCY_NAMES.get(mkt.quote_currency, mkt.quote_currency),
            "price": "market" if is_market else fmt(order.price),
            "amount": fmt(order.amount),
            "totalPrice": fmt(order.filled_total),
            "totalOrderPrice": fmt(order.amount * order.price) if order.price else "0",
            "matchedAmount": fmt(order.filled),
            "unmatchedAmount": fmt(order.remaining),
            "averagePrice": fmt(order.average_price),
            "fee": fmt(order.fee),
            "status": STATUS[order.status],
            "partial": 0 < order.filled < order.amount,
            "created_at": iso(order.created_at),
            "clientOrderId": order.client_id,
        }

    def trade_json(self, fill: Fill) -> dict:
        mkt = self.engine.markets[fill.symbol]
        return {
            "id": fill.trade_id,
            "orderId": fill.order_id,
            "srcCurrency": CURRENCY_NAMES.get(mkt.base_currency, mkt.base_currency),
            "dstCurrency": CURRENCY_NAMES.get(mkt.quote_currency, mkt.quote_currency),
            "market": _market_name(mkt),
            "timestamp": iso(fill.at),
            "type": fill.side,
            "price": fmt(fill.price),
            "amount": fmt(fill.amount),
            "total": fmt(fill.total),
            "fee": fmt(fill.fee),
        }

    def _symbol(self, src: object, dst: object) -> str:
        src, dst = str(src or "").lower(), str(dst or "").lower()
        for m in self.engine.markets.values():
            if m.base_currency == src and m.quote_currency == dst:
                return m.symbol
        return f"{src.upper()}{dst.upper()}?"

    def _find(self, key: str, p: dict) -> Order | None | bool:
        """The order named by id or clientOrderId; False if neither was sent."""
        order_id, client_id = p.get("id"), p.get("clientOrderId")
        if order_id not in (None, ""):
            try:
                return self.engine.find(key, order_id=int(str(order_id)))
            except ValueError:
                return None
        if client_id:
            return self.engine.find(key, client_id=str(client_id))
        return False


def _market_name(mkt: Market) -> str:
    return f"{mkt.base}-{'RLS' if mkt.quote == 'IRR' else 'USDT'}"


def _page(p: dict, default: int, maximum: int) -> tuple[int, int]:
    try:
        page = max(1, int(p.get("page") or 1))
        size = min(maximum, max(1, int(p.get("pageSize") or default)))
    except ValueError:
        page, size = 1, default
    return page, size
