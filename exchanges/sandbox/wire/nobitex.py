"""Nobitex's wire format, from ``nobitex/docs-api`` (2025 edition: ``docusaurus/docs/*.md``,
``source/includes/_general_notes.md``, ``openapi/spot_trade.yaml``); prices in rial.

Answers are ``{"status": "ok", …}``; refusals ``{"status": "failed", "code", "message"}``
with HTTP 200 where the request was understood (the openapi file's "200: success or
failure"). WIRE.md lists every endpoint with its doc section, and the variants.
"""

from __future__ import annotations

import time
from collections import deque
from decimal import Decimal

from ..engine import ZERO, Engine, EngineError, Fill, Order
from ..markets import Market
from ..variants import Variants
from .common import Request, Response, Route, dec, fmt, iso

CURRENCY_NAMES = {"btc": "Bitcoin", "eth": "Ethereum", "usdt": "Tether", "rls": "\ufdfc"}
ERROR_CODES = {
    "unknown_market": "InvalidMarketPair",
    "invalid": "InvalidOrderType",
    "invalid_amount": "InvalidOrderAmount",  # (chosen: not in the docs' table)
    "invalid_price": "InvalidOrderPrice",
    "bad_price": "BadPrice",
    "small_order": "SmallOrder",
    "large_order": "OverValueOrder",
    "insufficient": "OverValueOrder",  # the changelog: InsufficientBalance is for withdrawals
    "duplicate_client_id": "DuplicateClientOrderId",
    "amount_precision": "InvalidOrderAmount",
    "price_precision": "InvalidOrderPrice",
    "not_open": "InvalidOrderStatus",
}
STATUS = {"open": "Active", "filled": "Done", "canceled": "Canceled"}
LIST_STATUSES = ("open", "all", "done", "close")
LIST_ORDERINGS = ("id", "-id", "created_at", "-created_at", "price", "-price")
LIST_PAGE_DEFAULT = 100  # "صفحه بندی: دارد (پیش فرض ۱۰۰)"
TRADES_PAGE_DEFAULT, TRADES_PAGE_MAX = 30, 100
PAGE_MAX = 100  # general notes: page and pageSize accept 1 to 100
TRADES_DAYS = 3  # "فهرست معاملات ۳ روز اخیر"
DUPLICATE_WINDOW = 10.0  # seconds; note "سفارش تکراری"
FAILED_AUTH_LIMIT, FAILED_AUTH_WINDOW = 100, 1800.0  # general notes: "محدودیت احراز ناموفق"
PADDED = Decimal("1E-10")


def failed(code: str, message: str, status: int = 200, **extra: object) -> Response:
    return Response(status, {"status": "failed", "code": code, "message": message, **extra})


class NobitexWire:
    exchange = "nobitex"

    def __init__(self, engine: Engine, variants: Variants) -> None:
        self.engine = engine
        self.variants = variants
        self._recent: dict[tuple, float] = {}  # DuplicateOrder: fingerprint -> first seen
        self._failed_auth: dict[str, deque[float]] = {}
        self.user_agents: set[str] = set()

    def resolve(self, method: str, path: str) -> Route | None:
        path = path.rstrip("/") or "/"
        if path.startswith("/v3/orderbook/"):
            # "برای دریافت اردربوک حتماً از متد GET … استفاده نمایید" (POST is not served)
            if method != "GET":
                return Route("orderbook", self._method_not_allowed)
            return Route("orderbook", self.orderbook)
        routes = {
            ("GET", "/v2/options"): Route("options", self.options),
            ("POST", "/market/orders/add"): Route("place", self.place, places_order=True),
            ("POST", "/market/orders/status"): Route("status", self.status),
            ("POST", "/market/orders/update-status"): Route("cancel", self.cancel),
            ("POST", "/market/orders/cancel-old"): Route("cancel_old", self.cancel_old),
            ("GET", "/market/orders/list"): Route("list", self.orders_list),
            ("GET", "/market/trades/list"): Route("trades", self.trades_list),
            ("GET", "/users/wallets/list"): Route("wallets", self.wallets),
            ("POST", "/users/wallets/balance"): Route("wallet_balance", self.wallet_balance),
            ("GET", "/v2/wallets"): Route("wallets_v2", self.wallets_v2),
            ("GET", "/users/profile"): Route("profile", self.profile),
        }
        route = routes.get((method, path))
        if route is None and any(p == path for _, p in routes):
            return Route("options", self._method_not_allowed)
        return route

    def api_key(self, req: Request) -> str | None:
        auth = req.header("authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "token" and token.strip() else None

    def too_many(self, back_off: int, limit: int) -> Response:
        # _general_notes.md, "محدودیت فراخوانی": HTTP 429 with backOff (seconds) and limit.
        return failed(
            "TooManyRequests",
            f"تعداد درخواست شما بیش از حد معمول تشخیص داده شده. لطفا {back_off} ثانیه صبر نمایید.",
            429, backOff=back_off, limit=limit,
        )

    def rate_headers(self, limit: int, remaining: int) -> dict[str, str]:
        return {}

    def not_found(self) -> Response:
        return Response(404, {"detail": "Not found."})

    def _method_not_allowed(self, req: Request) -> Response:
        return Response(405, {"detail": f'Method "{req.method}" not allowed.'})

    # -- authentication ---------------------------------------------------------------

    def _account(self, req: Request) -> tuple[str | None, Response | None]:
        ua = req.header("user-agent")
        if ua:
            self.user_agents.add(ua[:120])
        attempts = self._failed_auth.get(req.client)
        now = time.monotonic()
        if attempts:
            while attempts and attempts[0] <= now - FAILED_AUTH_WINDOW:
                attempts.popleft()
            if len(attempts) > FAILED_AUTH_LIMIT:
                return None, failed("TooManyFailedAuthentications",
                                    "This IP is blocked for the rest of the 30-minute window "
                                    "after more than 100 requests with a wrong token.", 403)
        key = self.api_key(req)
        if key in self.engine.accounts:
            return key, None
        self._failed_auth.setdefault(req.client, deque()).append(now)
        return None, failed("InvalidToken", "Invalid token.", 401, detail="Invalid token.")

    def _trader(self, req: Request) -> tuple[str | None, Response | None]:
        key, refusal = self._account(req)
        if refusal is None and not self.engine.can_trade(key):
            refusal = failed("PermissionDenied", "This token may not trade.", 403)
        return key, refusal

    # -- public ---------------------------------------------------------------------

    def orderbook(self, req: Request) -> Response:
        symbol = req.path.rstrip("/").rsplit("/", 1)[-1].upper()
        if symbol == "ALL":
            # The "all" example has no lastTradePrice per market.
            books = {}
            for s in self.engine.markets:
                book = self._book_json(s)
                book.pop("lastTradePrice")
                books[s] = book
            return Response(200, {"status": "ok", **books})
        if symbol not in self.engine.markets:
            return failed("InvalidSymbol", f"Invalid symbol {symbol}", 400)
        return Response(200, {"status": "ok", **self._book_json(symbol)})

    def _book_json(self, symbol: str) -> dict:
        book = self.engine.book(symbol)
        asks, bids = self.engine.served(symbol)
        last = book.mid() or Decimal(0)
        return {
            "lastUpdate": book.updated_ms,
            "lastTradePrice": fmt(last.quantize(Decimal(1)) if last >= 1 else last),
            "asks": [[fmt(p), fmt(q)] for p, q in asks],
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
        }

    def options(self, req: Request) -> Response:
        # docusaurus/docs/other.md, "تنظیمات سیستم": nobitex.minOrders keyed by currency
        # (and by numeric currency id), amountPrecisions and pricePrecisions by symbol.
        markets = list(self.engine.markets.values())
        currencies = sorted({m.base_currency for m in markets} | {"rls", "usdt"})
        return Response(200, {
            "status": "ok",
            "features": {"fcmEnabled": False, "chat": "livechat", "walletsToNet": False,
                         "autoKYC": True, "enabledFeatures": ["StopLoss", "OCO"],
                         "betaFeatures": []},
            "coins": [
                {"coin": c, "name": CURRENCY_NAMES.get(c, c.upper()),
                 "defaultNetwork": "FIAT_MONEY" if c == "rls" else c.upper(),
                 "displayPrecision": "10" if c == "rls" else "0.000001", "networkList": {},
                 "stdName": CURRENCY_NAMES.get(c, c.upper())}
                for c in currencies
            ],
            "nobitex": {
                "allCurrencies": currencies,
                "activeCurrencies": currencies,
                "xchangeCurrencies": [],
                "topCurrencies": [c for c in ("btc", "eth", "usdt") if c in currencies],
                "testingCurrencies": [],
                "withdrawLimits": {},
                "minOrders": {"rls": "3000000", "usdt": "11", "2": "3000000", "13": "11"},
                "amountPrecisions": {m.symbol: fmt(m.step) for m in markets},
                "pricePrecisions": {m.symbol: fmt(m.tick) for m in markets},
                "giftCard": {"physicalFee": "360000"},
            },
        })

    # -- orders ---------------------------------------------------------------------

    def place(self, req: Request) -> Response:
        key, refusal = self._trader(req)
        if refusal:
            return refusal
        p = req.json_body()
        if p is None:
            return failed("ParseError", "Malformed JSON body", 400)
        client_id = p.get("clientOrderId")
        client_id = None if client_id in (None, "") else str(client_id)
        extra = {"clientOrderId": client_id} if client_id is not None else {}
        if client_id is not None and len(client_id) > 32:  # "تا ۳۲ کاراکتر"
            return failed("InvalidClientOrderId", "clientOrderId is longer than 32 characters",
                          **extra)
        side = str(p.get("type") or "").lower()
        if side not in ("buy", "sell"):
            return failed("InvalidOrderType", "type must be buy or sell", **extra)
        execution = str(p.get("execution") or "limit").lower()
        if p.get("mode") or execution in ("stop_market", "stop_limit"):
            return failed("FeatureUnavailable", "The sandbox does not simulate stop and OCO "
                          "orders", **extra)
        if execution not in ("limit", "market"):
            return failed("InvalidExecutionType", "execution must be limit or market", **extra)
        symbol = self._symbol(p.get("srcCurrency"), p.get("dstCurrency"))
        if symbol is None:
            return failed("InvalidMarketPair", "No such market", **extra)
        raw_price = p.get("price")
        price = None if raw_price in (None, "", "market") else dec(raw_price)
        if execution == "limit" and (price is None or price <= 0):
            return failed("InvalidOrderPrice", "Order price is missing or invalid", **extra)
        amount = dec(p.get("amount"))
        if amount is None or amount <= 0:
            return failed("InvalidOrderAmount", "Order amount is missing or invalid", **extra)
        fingerprint = self._fingerprint(key, side, execution, symbol, amount, price, client_id)
        now = time.monotonic()
        pro = str(p.get("pro") or "").lower() == "yes"  # "حالت متداول و Pro"
        if not pro and self._seen_recently(fingerprint, now):
            return failed("DuplicateOrder", "An identical order was sent in the last ten "
                          "seconds.", **extra)
        book = self.engine.book(symbol)
        guide = price if execution == "market" else None
        if execution == "market" and guide is None:
            # Without price: "at the market's price … up to a 1% range".
            guide = book.mid()
        try:
            order = self.engine.place(
                key, symbol=symbol, side=side, kind=execution, amount=amount,
                price=price if execution == "limit" else None, client_id=client_id,
                market_guide=guide,
            )
        except EngineError as exc:
            if exc.code == "duplicate_client_id":
                exc.message = ("شناسه سفارش کاربر تکراری است: another open order has this "
                               "clientOrderId")
            return failed(ERROR_CODES.get(exc.code, "InvalidOrderType"), exc.message, **extra)
        self._recent[fingerprint] = now
        return Response(200, {"status": "ok", "order": self.order_json(order)})

    def _fingerprint(self, key: str, side: str, execution: str, symbol: str, amount: Decimal,
                     price: Decimal | None, client_id: str | None) -> tuple:
        parts: tuple = (key, side, execution, symbol, amount.normalize(),
                        None if price is None else price.normalize())
        if self.variants.is_("nobitex-duplicate-order", "all-fields"):
            parts += (client_id,)
        return parts

    def _seen_recently(self, fingerprint: tuple, now: float) -> bool:
        for old in [f for f, at in self._recent.items() if at <= now - DUPLICATE_WINDOW]:
            del self._recent[old]
        return fingerprint in self._recent

    def status(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        p = req.params()
        order = self._find(key, p.get("id"), p.get("clientOrderId"))
        if order is False:
            return failed("NullIdAndClientOrderId", "Send id or clientOrderId")
        if order is None:
            return self._order_not_found()
        return Response(200, {"status": "ok", "order": self.order_json(order)})

    def cancel(self, req: Request) -> Response:
        key, refusal = self._trader(req)
        if refusal:
            return refusal
        p = req.params()
        order = self._find(key, p.get("order"), p.get("clientOrderId"))
        if order is False:
            return failed("NullIdAndClientOrderId", "Send order or clientOrderId")
        if order is None:
            return self._order_not_found()
        wanted = str(p.get("status") or "").lower()
        if wanted != "canceled" or not order.is_open:
            # apidocs.nobitex.ir, "لغو سفارش": a transition not applied is HTTP 200,
            # status failed, with updatedStatus and the order.
            return failed("InvalidOrderStatus",
                          f"Cannot change a {STATUS[order.status]} order to {wanted!r}",
                          updatedStatus=STATUS[order.status],
                          order=self.order_json(order, full=True))
        self.engine.cancel(order)
        return Response(200, {"status": "ok", "updatedStatus": "Canceled",
                              "order": self.order_json(order, full=True)})

    def cancel_old(self, req: Request) -> Response:
        key, refusal = self._trader(req)
        if refusal:
            return refusal
        p = req.params()
        hours = dec(p.get("hours"))
        cutoff = time.time() - float(hours) * 3600 if hours is not None else None
        symbol = None
        if p.get("srcCurrency") or p.get("dstCurrency"):
            symbol = self._symbol(p.get("srcCurrency"), p.get("dstCurrency"))
            if symbol is None:
                return failed("InvalidMarketPair", "No such market")
        execution = str(p.get("execution") or "").lower()
        for order in self.engine.account_orders(key):
            if (order.is_open and order.cancel_due is None
                    and (symbol is None or order.symbol == symbol)
                    and (not execution or order.kind == execution)
                    and (cutoff is None or order.created_at <= cutoff)):
                self.engine.cancel(order)
        return Response(200, {"status": "ok"})

    def _order_not_found(self) -> Response:
        """The body of "no such order": undocumented, so variant ``nobitex-not-found``."""
        shape = self.variants["nobitex-not-found"]
        if shape == "failed":
            return failed("NotFound", "Order not found")
        if shape == "failed-404":
            return failed("NotFound", "Order not found", 404)
        if shape == "drf":
            return Response(404, {"detail": "Not found."})
        return Response(200, {"status": "ok", "order": None})

    def orders_list(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        p = req.params()
        wanted = str(p.get("status") or "open").lower()
        if wanted not in LIST_STATUSES:
            return failed("ParseError", f"status must be one of {', '.join(LIST_STATUSES)}", 400)
        ordering = str(p.get("order") or "")
        if ordering and ordering not in LIST_ORDERINGS:
            return failed("ParseError", f"order must be one of {', '.join(LIST_ORDERINGS)}", 400)
        keep = {
            "open": lambda o: o.is_open,
            "all": lambda o: True,
            "done": lambda o: o.filled > 0,
            "close": lambda o: not o.is_open,
        }[wanted]
        orders = [o for o in self.engine.account_orders(key) if keep(o)]
        src, dst = p.get("srcCurrency"), p.get("dstCurrency")
        if src:
            orders = [o for o in orders
                      if self.engine.markets[o.symbol].base_currency == str(src).lower()]
        if dst:
            orders = [o for o in orders
                      if self.engine.markets[o.symbol].quote_currency == str(dst).lower()]
        side = str(p.get("type") or "").lower()
        if side:
            orders = [o for o in orders if o.side == side]
        execution = str(p.get("execution") or "").lower()
        if execution:
            orders = [o for o in orders if o.kind == execution]
        if str(p.get("tradeType") or "spot").lower() != "spot":
            orders = []
        from_id = _int(p.get("fromId"))
        if from_id is not None:
            orders = [o for o in orders if o.id > from_id]
        orders = _sort_orders(orders, ordering, from_id is not None, side)
        max_size = int(self.variants["nobitex-page-size"])
        paged = _page(p, LIST_PAGE_DEFAULT, max_size, ignore_page=from_id is not None)
        if isinstance(paged, Response):
            return paged
        page, size = paged
        chunk = orders[(page - 1) * size: page * size]
        details = str(p.get("details") or "1") == "2"
        # The list example shows no hasNext.
        return Response(200, {"status": "ok",
                              "orders": [self.list_row(o, details) for o in chunk]})

    def trades_list(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        p = req.params()
        src, dst = p.get("srcCurrency"), p.get("dstCurrency")
        if bool(src) != bool(dst):
            # "both srcCurrency and dstCurrency, or neither"
            return failed("InvalidMarketPair", "Send both srcCurrency and dstCurrency, or "
                          "neither", 400)
        since = time.time() - TRADES_DAYS * 86400
        fills = [f for f in self.engine.account_fills(key) if f.at >= since]
        if src and dst:
            symbol = self._symbol(src, dst)
            fills = [f for f in fills if f.symbol == symbol]
        from_id = _int(p.get("fromId"))
        if from_id is not None:
            fills = [f for f in fills if f.trade_id >= from_id]
        fills.sort(key=lambda f: f.trade_id, reverse=True)
        paged = _page(p, TRADES_PAGE_DEFAULT, TRADES_PAGE_MAX)
        if isinstance(paged, Response):
            return paged
        page, size = paged
        chunk = fills[(page - 1) * size: page * size]
        return Response(200, {"status": "ok", "trades": [self.trade_json(f) for f in chunk],
                              "hasNext": len(fills) > page * size})

    # -- wallets --------------------------------------------------------------------

    def wallets(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        if str(req.query.get("type") or "spot") != "spot":
            return Response(200, {"status": "ok", "wallets": []})
        wallet = self.engine.wallet(key)
        entries = []
        for currency in sorted(set(wallet.total) | set(wallet.blocked)):
            total = wallet.total.get(currency, ZERO)
            blocked = wallet.blocked.get(currency, ZERO)
            rial = int(total * self._rial_price(currency))
            entries.append({
                "depositAddress": None, "depositTag": None,
                "depositInfo": {"FIAT_MONEY" if currency == "rls" else currency.upper():
                                {"address": None, "tag": None}},
                "id": _wallet_id(currency), "currency": currency, "balance": fmt(total),
                "blockedBalance": fmt(blocked), "activeBalance": fmt(total - blocked),
                "rialBalance": rial, "rialBalanceSell": rial,
            })
        return Response(200, {"status": "ok", "wallets": entries})

    def wallets_v2(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        wallet = self.engine.wallet(key)
        wanted = [c.strip().lower() for c in str(req.query.get("currencies") or "").split(",")
                  if c.strip()]
        currencies = wanted or sorted(set(wallet.total) | set(wallet.blocked))
        return Response(200, {"status": "ok", "wallets": {
            c.upper(): {"id": _wallet_id(c), "balance": fmt(wallet.total.get(c, ZERO)),
                        "blocked": fmt(wallet.blocked.get(c, ZERO))}
            for c in currencies if c in wallet.total or c in wallet.blocked
        }})

    def wallet_balance(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        currency = str(req.params().get("currency") or "").lower()
        wallet = self.engine.wallet(key)
        if currency not in wallet.total and currency not in wallet.blocked:
            return failed("InvalidCurrency", f"No wallet for {currency!r}")
        return Response(200, {"balance": fmt(wallet.total.get(currency, ZERO)), "status": "ok"})

    def profile(self, req: Request) -> Response:
        key, refusal = self._account(req)
        if refusal:
            return refusal
        # docusaurus/docs/user-data.md, "پروفایل": options.fee / feeUsdt (percent).
        fee = fmt(self.engine.taker_fee * 100)
        return Response(200, {
            "status": "ok",
            "profile": {
                "email": "sandbox@example.com", "username": "sandbox@example.com",
                "bankCards": [], "bankAccounts": [], "verifications": {},
                "pendingVerifications": {},
                "options": {"fee": fee, "feeUsdt": fee, "isManualFee": False, "tfa": False,
                            "socialLoginEnabled": False},
                "withdrawEligible": False,
            },
            "tradeStats": {"monthTradesTotal": "0", "monthTradesCount": 0},
        })

    # -- shapes ---------------------------------------------------------------------

    def _num(self, value: Decimal) -> str:
        if self.variants.is_("nobitex-decimals", "padded"):
            return str(value.quantize(PADDED))  # "3.0000000000", "0E-10" as in the docs
        return fmt(value)

    def order_json(self, order: Order, *, full: bool = False) -> dict:
        """The order in place and status answers; ``full`` (cancel answers) adds averagePrice.

        The place and status examples carry totalPrice and matchedAmount, no averagePrice;
        the 2025 cancel example carries averagePrice too.
        """
        mkt = self.engine.markets[order.symbol]
        is_market = order.kind == "market"
        if self.variants.is_("nobitex-total-price", "order") and order.price is not None:
            total_price = order.amount * order.price  # the 2018 examples: amount × price
        else:
            total_price = order.filled_total  # newer examples: "0" until something matched
        out = {
            "id": order.id,
            "type": order.side,
            "execution": "Market" if is_market else "Limit",
            "tradeType": "Spot",
            "market": _market_name(mkt),
            "srcCurrency": CURRENCY_NAMES.get(mkt.base_currency, mkt.base_currency),
            "dstCurrency": CURRENCY_NAMES.get(mkt.quote_currency, mkt.quote_currency),
            "price": "market" if is_market else self._num(order.price),
            "amount": self._num(order.amount),
            "totalPrice": self._num(total_price),
            "totalOrderPrice": self._num(order.amount * order.price) if order.price else "0",
            "matchedAmount": self._num(order.filled),
            "unmatchedAmount": self._num(order.remaining),
            "status": STATUS[order.status],
            "partial": 0 < order.filled < order.amount,
            "fee": self._num(order.fee),
            "created_at": iso(order.created_at),
            "clientOrderId": order.client_id,
        }
        if full:
            out["averagePrice"] = self._num(order.average_price)
        return out

    def list_row(self, order: Order, details: bool) -> dict:
        """A row of /market/orders/list: the minimal fields, or those of ``details=2``."""
        mkt = self.engine.markets[order.symbol]
        row: dict = {
            "type": order.side,
            "execution": "Market" if order.kind == "market" else "Limit",
            "tradeType": "Spot",
            "srcCurrency": CURRENCY_NAMES.get(mkt.base_currency, mkt.base_currency),
            "dstCurrency": CURRENCY_NAMES.get(mkt.quote_currency, mkt.quote_currency),
            "price": "market" if order.kind == "market" else self._num(order.price),
            "amount": self._num(order.amount),
            "matchedAmount": self._num(order.filled),
        }
        if details:
            row.update({
                "id": order.id,
                "status": STATUS[order.status],
                "fee": self._num(order.fee),
                "created_at": iso(order.created_at),
                "averagePrice": self._num(order.average_price),
            })
            if self.variants.is_("nobitex-details-client-id", "yes"):
                row["clientOrderId"] = order.client_id
        return row

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

    def _symbol(self, src: object, dst: object) -> str | None:
        src, dst = str(src or "").lower(), str(dst or "").lower()
        for m in self.engine.markets.values():
            if m.base_currency == src and m.quote_currency == dst:
                return m.symbol
        return None

    def _rial_price(self, currency: str) -> Decimal:
        if currency == "rls":
            return Decimal(1)
        mkt = next((m for m in self.engine.markets.values()
                    if m.base_currency == currency and m.quote_currency == "rls"), None)
        mid = self.engine.book(mkt.symbol).mid() if mkt else None
        return mid or Decimal(0)

    def _find(self, key: str, order_id: object, client_id: object) -> Order | None | bool:
        """By id (which wins when both are sent), else by clientOrderId among open orders
        only (notes 2 and 3 of "مشاهده وضعیت سفارش"); False if neither was sent."""
        if order_id not in (None, ""):
            try:
                return self.engine.find(key, order_id=int(str(order_id)))
            except ValueError:
                return None
        if client_id not in (None, ""):
            return self.engine.find(key, client_id=str(client_id))
        return False


def _market_name(mkt: Market) -> str:
    return f"{mkt.base}-{'RLS' if mkt.quote == 'IRR' else 'USDT'}"


def _wallet_id(currency: str) -> int:
    return 2_690_000 + sum(ord(c) * 31 ** i for i, c in enumerate(currency)) % 10_000


def _int(value: object) -> int | None:
    try:
        return None if value in (None, "") else int(str(value))
    except ValueError:
        return None


def _sort_orders(orders: list[Order], ordering: str, from_id: bool, side: str) -> list[Order]:
    """The documented orders of /market/orders/list ("پارامتر ترتیب ارسال سفارشات")."""
    if ordering:
        field = ordering.lstrip("-")
        keyf = {"id": lambda o: o.id, "created_at": lambda o: o.created_at,
                "price": lambda o: o.price or ZERO}[field]
        return sorted(orders, key=lambda o: (keyf(o), o.id), reverse=ordering.startswith("-"))
    if from_id:
        return sorted(orders, key=lambda o: o.id, reverse=True)
    if side == "buy":
        return sorted(orders, key=lambda o: (o.price or ZERO, o.id), reverse=True)
    if side == "sell":
        return sorted(orders, key=lambda o: (o.price or ZERO, o.id))
    return sorted(orders, key=lambda o: (o.created_at, o.id), reverse=True)


def _page(p: dict, default: int, maximum: int,
          ignore_page: bool = False) -> tuple[int, int] | Response:
    """page 1–100; pageSize clamped to 1..maximum (general notes, "صفحه‌بندی")."""
    page, size = _int(p.get("page")), _int(p.get("pageSize"))
    if (p.get("page") not in (None, "") and page is None) or (
            p.get("pageSize") not in (None, "") and size is None):
        return failed("ParseError", "page and pageSize must be integers", 400)
    page = 1 if page is None or ignore_page else page
    if not 1 <= page <= PAGE_MAX:
        return failed("ParseError", f"page must be between 1 and {PAGE_MAX}", 400)
    size = default if size is None else min(maximum, max(1, size))
    return page, size
