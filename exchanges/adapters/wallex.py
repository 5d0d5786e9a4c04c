"""Wallex (docs: developers.wallex.ir, api-docs.wallex.ir 2022; ``darhelm/go-wallex``).
``X-API-Key`` auth.

TMN markets quote in TOMAN: the market specs carry ``price_scale = 10`` and
every price crossing this module is converted (toman × 10 = rial coming in,
rial ÷ 10 going out); TMN balances and fees come back as IRR in rial.
Orders are known by client order id only, so that id is also the
``exchange_order_id``.

What the docs say, and what this adapter does with it:

- ``client_id``: A-Z, 0-9 and ``_`` only [doc: spot-create-order]; the ids
  of ``exchanges.client_ids`` satisfy it. An id outside the rule is still
  sent (the old edition accepted any), with a warning.
- Place answers 201 [doc: spot-create-order]; errors 400, 401, 402
  (insufficient balance → ``RejectedError`` reason ``INSUFFICIENT_BALANCE``),
  403, 404, 409 (the client id is taken → ``DuplicateOrderIdError``: an
  order under it exists, look it up), 422, 429, 500 [doc: error table];
  ``code`` values are undocumented and numeric [go-wallex ``errors.go``]:
  shown in the message.
- ``GET /v1/account/orders/{client_id}`` answers 404 "Order not found" for
  an unknown id [doc: generated-get-orders-client]: a 404 with a well-formed
  envelope (``success: false``) to that lookup is ``NotFoundError``.
- Orders carry ``created_at`` (ISO); ``transactTime`` is 0 in the new docs:
  ``created_at`` first, ``transactTime`` only when positive.
- ``FINISHED`` (the cancel page) is read by ``executedQty``: all of it
  executed is filled, else cancelled (with its partial fill).
- ``GET /v1/account/openOrders?symbol&page&per_page`` is paginated; its
  ``result`` is a map of lists (new docs) or ``result.orders`` (old): both
  are read, pages until a short one.
- ``GET /v1/account/orders`` is the order history [doc: spot-order-list]:
  the batched lookup (recovery) and the recent fills read it.
- Fills come from each order's own ``fills[]``; they have no trade id, and
  ``/v1/account/trades`` has no order identity [old docs, go-wallex
  ``UserTrade``]: a fill's id is a digest of its order's client id, its own
  fields and its rank among identical fills of that order, so the same fill
  read twice gets the same id and two identical fills never share one.
- Cancel: ``DELETE /v1/account/orders?clientOrderId=…`` [old docs, go-wallex]
  or ``DELETE /v1/account/orders/{client_id}`` [new docs]; the
  ``wallex-cancel`` variant picks the form tried first, the other is tried
  when the first finds no such route or order.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from exchanges.client_ids import is_strictly_valid
from exchanges.errors import ExchangeError, NotFoundError, RejectedError, TransientError
from exchanges.http import Call, CallKind, ErrorInfo
from exchanges.interface import LIST_LOOKBACK_MARGIN_S, ExchangeAdapter, now_utc
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

TOMAN = "TMN"
TOMAN_IN_RIAL = Decimal("10")

# NEW, FILLED, CANCELED [doc]; FINISHED (cancel page) is decided by
# executedQty; some editions say PARTIALLY_FILLED.
_STATES = {
    "new": OrderState.OPEN,
    "partially_filled": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
    "cancelled": OrderState.CANCELLED,
    "rejected": OrderState.REJECTED,
    "expired": OrderState.EXPIRED,
}
PAGE_SIZE = 50  # per_page of paginated lists (no documented maximum [?])
MAX_PAGES = 50
HISTORY_PAGES = 10  # order history pages a batched lookup reads at most
FILLS_ORDERS = 20  # history orders read one by one for their fills, at most


def project_asset(asset: str) -> str:
    return "IRR" if asset.upper() == TOMAN else asset.upper()


def to_rial(asset: str, amount: Decimal) -> Decimal:
    """Wallex amounts of TMN are toman: ×10 to rial; other assets unchanged."""
    return amount * TOMAN_IN_RIAL if asset.upper() == TOMAN else amount


def _envelope_failed(body: Any) -> bool:
    return isinstance(body, dict) and body.get("success") is False


class WallexAdapter(ExchangeAdapter):
    kind = "wallex"
    default_base_url = "https://api.wallex.ir"

    def auth_headers(self, call: Call) -> dict[str, str]:
        if call.endpoint == BOOK or not self.config.api_key:
            return {}
        return {"X-API-Key": self.config.api_key}

    def read_error(self, status: int, body: Any, call: Call) -> ErrorInfo | None:
        envelope = _envelope_failed(body)
        if not envelope and status < 400:
            return None
        raw_code = body.get("code") if isinstance(body, dict) else None
        code = str(raw_code) if raw_code not in (None, "") else None
        message = str((body.get("message") or body.get("detail") if isinstance(body, dict)
                       else None) or code or f"HTTP {status}")
        if isinstance(body, dict) and isinstance(body.get("result"), dict) and body["result"]:
            message += f" {body['result']}"  # field errors, when given
        reason = None
        if status == 402:
            reason = RejectedError.INSUFFICIENT_BALANCE
            message = f"insufficient balance: {message}"
        if status == 409:
            message = f"duplicate client order id: {message}"
        return ErrorInfo(
            code=("InsufficientBalance" if status == 402 else
                  "DuplicateClientOrderId" if status == 409 else code),
            message=message + (f" [code {code}]" if code and status in (402, 409) else ""),
            not_found=call.lookup and status == 404 and envelope,
            auth=status in (401, 403),
            rate_limited=status == 429,
            reason=reason,
            duplicate_id=status == 409,
        )

    # -- market data -------------------------------------------------------------

    def get_order_book(self, market: str, *, max_wait: float | None = None) -> OrderBook:
        spec = self.spec(market)

        def parse(root: Node) -> OrderBook:
            result = root["result"]
            return OrderBook(
                exchange=self.name,
                market=spec.market,
                bids=levels(_rows(result["bid"]), spec.price_scale, descending=True),
                asks=levels(_rows(result["ask"]), spec.price_scale, descending=False),
                received_at=now_utc(),  # Wallex gives no timestamp
            )

        return self.fetch(Call("GET", "/v1/depth", BOOK, params={"symbol": spec.symbol},
                               max_wait=max_wait), f"depth {spec.symbol}", parse)

    def market_rules(self) -> dict[str, MarketRules]:
        """``GET /v1/markets``: ``stepSize``/``tickSize`` as decimal places, ``minQty``,
        ``maxQty``, ``minNotional`` (in the quote: toman on TMN markets)."""

        def parse(root: Node) -> dict[str, MarketRules]:
            symbols = root["result"]["symbols"]
            rows = symbols.list() if symbols.is_list() else [n for _, n in symbols.items()]
            rules: dict[str, MarketRules] = {}
            for row in rows:
                symbol = row["symbol"].text()
                spec = self.spec_for_symbol(symbol)
                quote_asset = row.get("quoteAsset").opt_text() or (
                    TOMAN if symbol.upper().endswith(TOMAN) else "")
                scale = spec.price_scale if spec else (
                    TOMAN_IN_RIAL if quote_asset.upper() == TOMAN else Decimal("1"))
                notional = row.get("minNotional").opt_decimal()
                max_notional = row.get("maxNotional").opt_decimal()
                tick = _places(row.get("tickSize"))
                rules[symbol] = MarketRules(
                    exchange=self.name, symbol=symbol, market=spec.market if spec else None,
                    amount_step=_places(row.get("stepSize")),
                    price_tick=tick * scale if tick is not None else None,
                    min_quantity=row.get("minQty").opt_decimal(),
                    max_quantity=row.get("maxQty").opt_decimal(),
                    min_order_value=notional * scale if notional is not None else None,
                    max_order_value=max_notional * scale if max_notional is not None else None,
                )
            return rules

        return self.fetch(Call("GET", "/v1/markets", BOOK), "markets", parse)

    def fee_rates(self) -> dict[str, FeeRate]:
        """``GET /v1/account/fee``: ``makerFeeRate``/``takerFeeRate`` per symbol."""
        self._require_credentials()

        def parse(root: Node) -> dict[str, FeeRate]:
            rates = {}
            for symbol, row in root["result"].items():
                if not row.is_obj():
                    continue
                spec = self.spec_for_symbol(symbol)
                rates[symbol] = FeeRate(self.name, symbol, spec.market if spec else None,
                                        row["makerFeeRate"].decimal(),
                                        row["takerFeeRate"].decimal())
            return rates

        return self.fetch(Call("GET", "/v1/account/fee", BALANCES), "fee", parse)

    # -- orders --------------------------------------------------------------------

    def _place(self, order: PreparedOrder) -> ExchangeOrder:
        request, spec = order.request, order.spec
        if not is_strictly_valid(request.client_order_id):
            logger.warning("%s: client order id %s is outside the documented rule "
                           "(A-Z, 0-9, _): Wallex may refuse it", self.name,
                           request.client_order_id)
        payload: dict[str, str] = {
            "symbol": spec.symbol,
            "type": request.type.value.upper(),
            "side": request.side.value.upper(),
            "quantity": decimal_str(order.quantity),
            "client_id": request.client_order_id,
        }
        if order.exchange_price is not None:
            payload["price"] = decimal_str(order.exchange_price)  # toman on TMN markets
        return self.fetch(
            Call("POST", "/v1/account/orders", PLACE, CallKind.PLACE, json_body=payload,
                 client_order_id=request.client_order_id),
            "place order",
            lambda root: self._order(root["result"], spec=spec,
                                     client_order_id=request.client_order_id),
        )

    def get_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> ExchangeOrder:
        # Wallex knows an order by its client id, which is also its exchange id
        # here; an order imported from the exchange has ours beside Wallex's.
        order_id = exchange_order_id or client_order_id
        if not order_id:
            raise ValueError("give exchange_order_id or client_order_id")
        self._require_credentials()
        spec = self.spec(market) if market else None
        return self.fetch(
            Call("GET", f"/v1/account/orders/{quote(order_id, safe='')}", STATUS,
                 client_order_id=order_id, lookup=True),
            "order status",
            lambda root: self._order(root["result"], spec=spec, client_order_id=order_id),
        )

    def _history_page(self, page: int, spec: MarketSpec | None) -> tuple[list[ExchangeOrder], bool]:
        """One page of ``GET /v1/account/orders`` and whether more may follow."""
        params = {"page": str(page), "per_page": str(PAGE_SIZE)}
        if spec is not None:
            params["market"] = spec.symbol

        def parse(root: Node) -> tuple[list[ExchangeOrder], bool]:
            rows = _order_rows(root["result"])
            return [self._order(row, spec=spec) for row in rows], len(rows) >= PAGE_SIZE

        return self.fetch(Call("GET", "/v1/account/orders", OPEN_ORDERS, params=params),
                          "order history", parse)

    def _list_lookup(self, refs: list[OrderRef], *, deadline: float,
                     result: OrdersLookup) -> dict[str, ExchangeOrder]:
        """The order history, newest first, until every order is seen or the
        rows are older than the oldest ref. Absence here proves nothing: the
        rest are asked about one by one."""
        self._require_credentials()
        # Wallex's id of each order (its client id) → ours (they differ only for
        # an order imported from the exchange).
        wanted = {ref.exchange_order_id or ref.client_order_id: ref.client_order_id
                  for ref in refs}
        times = [ref.created_at for ref in refs if ref.created_at is not None]
        oldest = (min(times).timestamp() - LIST_LOOKBACK_MARGIN_S
                  if len(times) == len(refs) else None)
        found: dict[str, ExchangeOrder] = {}
        deadline = max(deadline, time.monotonic() + self.LIST_PATIENCE)
        for page in range(1, HISTORY_PAGES + 1):
            result.calls += 1
            orders, more = self.patiently(lambda page=page: self._history_page(page, None),
                                          deadline=deadline)
            for order in orders:
                if order.client_order_id in wanted:
                    found[wanted[order.client_order_id]] = order
            stamps = [o.created_at.timestamp() for o in orders if o.created_at is not None]
            if len(found) == len(wanted) or not more:
                break
            if oldest is not None and stamps and min(stamps) < oldest:
                break
        return found

    def open_orders(self, market: str | None = None) -> list[ExchangeOrder]:
        self._require_credentials()
        spec = self.spec(market) if market else None
        orders: dict[str, ExchangeOrder] = {}
        deadline = time.monotonic() + self.LIST_PATIENCE
        for page in range(1, MAX_PAGES + 1):
            params = {"page": str(page), "per_page": str(PAGE_SIZE)}
            if spec is not None:
                params["symbol"] = spec.symbol

            def parse(root: Node) -> list[ExchangeOrder]:
                return [self._order(row, spec=spec) for row in _order_rows(root["result"])]

            batch = self.patiently(
                lambda params=params: self.fetch(
                    Call("GET", "/v1/account/openOrders", OPEN_ORDERS, params=params),
                    "open orders", parse),
                deadline=deadline)
            new = [o for o in batch if o.client_order_id not in orders]
            for order in batch:
                orders.setdefault(order.client_order_id or "", order)
            # A short page ends the list; a page of nothing new means the
            # server ignores ``page`` (the old edition lists everything at once).
            if len(batch) < PAGE_SIZE or not new:
                return list(orders.values())
        raise TransientError(self.name, f"open orders: more than {MAX_PAGES} pages")

    def cancel_order(
        self,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        market: str | None = None,
    ) -> None:
        order_id = exchange_order_id or client_order_id  # Wallex's own, as in get_order
        if not order_id:
            raise ValueError("give exchange_order_id or client_order_id")
        self._require_credentials()
        forms = ["query", "path"]
        if self.variant("wallex-cancel") == "path":
            forms.reverse()
        for attempt, form in enumerate(forms):
            try:
                self._cancel(order_id, form)
            except (NotFoundError, RejectedError) as exc:
                # No such route (or no such order) in this form: the other form
                # decides; a refusal of anything else stands.
                if attempt or exc.http_status not in (404, 405):
                    raise
                logger.info("%s: cancel of %s by %s answered %s; trying the %s form",
                            self.name, order_id, form, exc.http_status, forms[1])
                continue
            logger.info("%s: cancel of order %s accepted (%s form)", self.name, order_id, form)
            return

    def _cancel(self, order_id: str, form: str) -> None:
        if form == "path":
            call = Call("DELETE", f"/v1/account/orders/{quote(order_id, safe='')}", CANCEL,
                        CallKind.CANCEL, client_order_id=order_id, lookup=True)
        else:
            call = Call("DELETE", "/v1/account/orders", CANCEL, CallKind.CANCEL,
                        params={"clientOrderId": order_id}, client_order_id=order_id,
                        lookup=True)

        def parse(root: Node) -> None:
            if root["success"].boolean() is not True:
                raise root["success"].fail("expected true")

        self.fetch(call, "cancel", parse)

    # -- account ---------------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        self._require_credentials()
        value_is_available = self.variant("wallex-balance-value") == "available"

        def parse(root: Node) -> dict[str, Balance]:
            result: dict[str, Balance] = {}
            for key, row in root["result"]["balances"].items():
                wallex_asset = row.get("asset").opt_text() or key
                # Whether ``value`` includes ``locked`` is undocumented [?]: the
                # total by default (the old edition's example), or what is
                # available (variant ``wallex-balance-value``).
                value = to_rial(wallex_asset, row["value"].decimal())
                locked = to_rial(wallex_asset, row.get("locked").opt_decimal() or ZERO)
                total = value + locked if value_is_available else value
                asset = project_asset(wallex_asset)
                result[asset] = Balance(asset, total, total - locked, locked)
            return result

        return self.fetch(Call("GET", "/v1/account/balances", BALANCES), "balances", parse)

    def recent_fills(self, market: str | None = None) -> list[Fill]:
        """The fills of the most recent orders, from each order's own ``fills[]``
        (the order history; an order listed without its fills is read once).
        Where the history cannot be read, ``/v1/account/trades``: its rows name
        no order [doc], so only the rows that do (some editions) can be tied to
        an order."""
        self._require_credentials()
        spec = self.spec(market) if market else None
        try:
            orders, _ = self._history_page(1, spec)
        except (RejectedError, NotFoundError, TransientError) as exc:
            logger.warning("%s: order history unavailable (%s); reading the trades list",
                           self.name, exc)
            return self._trades_list(spec)
        fills: list[Fill] = []
        reads = 0
        for order in orders:
            if order.fills or order.filled_quantity <= ZERO:
                fills.extend(order.fills)
                continue
            if reads >= FILLS_ORDERS or not order.client_order_id:
                continue
            reads += 1
            try:
                fills.extend(self.get_order(client_order_id=order.client_order_id,
                                            market=market).fills)
            except ExchangeError as exc:
                logger.warning("%s: fills of order %s not read: %s", self.name,
                               order.client_order_id, exc)
        return fills

    def _trades_list(self, spec: MarketSpec | None) -> list[Fill]:
        params = {"symbol": spec.symbol} if spec else None

        def parse(root: Node) -> list[Fill]:
            result = root["result"]
            rows = (result.get("AccountLatestTrades") if result.has("AccountLatestTrades")
                    else result["accountLatestTrades"])
            return self._fills(rows.list(), spec=spec, client_order_id=None)

        return self.fetch(Call("GET", "/v1/account/trades", FILLS, params=params), "trades",
                          parse)

    # -- parsing -----------------------------------------------------------------------

    def _order(self, row: Node, *, spec: MarketSpec | None,
               client_order_id: str | None = None) -> ExchangeOrder:
        row.obj()
        symbol = row.get("symbol").opt_text() or ""
        spec = self.spec_for_symbol(symbol) or spec
        scale = spec.price_scale if spec else Decimal("1")
        raw_status = row.get("status").opt_text() or ""
        quantity = row["origQty"].decimal()
        filled = row.get("executedQty").opt_decimal() or ZERO
        state = _STATES.get(raw_status.lower(), OrderState.UNKNOWN)
        if raw_status.upper() == "FINISHED":
            state = OrderState.FILLED if filled >= quantity > ZERO else OrderState.CANCELLED
        if state is OrderState.OPEN and filled > ZERO:
            state = OrderState.PARTIALLY_FILLED
        if state is OrderState.UNKNOWN and row.get("active").boolean() is True:
            state = OrderState.PARTIALLY_FILLED if filled > ZERO else OrderState.OPEN
        order_type = (row.get("type").opt_text() or "").lower()
        side = (row.get("side").opt_text() or "").lower()
        cid = row.get("clientOrderId").opt_text() or client_order_id
        fills = tuple(self._fills(row.get("fills").opt_list(), spec=spec, client_order_id=cid))
        price = row.get("price").opt_decimal()
        average = row.get("executedPrice").opt_decimal()
        return ExchangeOrder(
            exchange=self.name,
            market=spec.market if spec else symbol,
            state=state,
            exchange_order_id=cid,
            client_order_id=cid,
            side=Side(side) if side in ("buy", "sell") else None,
            type=OrderType(order_type) if order_type in ("limit", "market") else None,
            price=price * scale if price is not None else None,
            quantity=quantity,
            filled_quantity=filled,
            average_price=average * scale if average is not None and filled > ZERO else None,
            fee=sum((f.fee for f in fills), ZERO) if fills else None,
            fee_asset=fills[0].fee_asset if fills else None,
            fills=fills,
            raw_status=raw_status,
            created_at=row.get("created_at").iso_time() or _transact_time(row.get("transactTime")),
        )

    def _fills(self, rows: list[Node], *, spec: MarketSpec | None,
               client_order_id: str | None) -> list[Fill]:
        seen: Counter[tuple[Any, ...]] = Counter()
        fills = []
        for row in rows:
            row.obj()
            key = tuple(str(row.get(k).value) for k in
                        ("symbol", "timestamp", "price", "quantity", "fee", "feeAsset", "isBuyer"))
            rank = seen[key]
            seen[key] += 1
            fills.append(self._fill(row, spec=spec, client_order_id=client_order_id,
                                    key=key, rank=rank))
        return fills

    def _fill(self, row: Node, *, spec: MarketSpec | None, client_order_id: str | None,
              key: tuple[Any, ...], rank: int) -> Fill:
        spec = self.spec_for_symbol(row.get("symbol").opt_text() or "") or spec
        scale = spec.price_scale if spec else Decimal("1")
        side = (row.get("side").opt_text() or "").lower()
        if side not in ("buy", "sell"):
            buyer = row.get("isBuyer").boolean()
            side = "buy" if buyer else "sell" if buyer is False else ""
        fee_asset = row.get("feeAsset").opt_text() or ""
        client_order_id = row.get("clientOrderId").opt_text() or client_order_id
        trade_id = row.get("tradeId").opt_text() or row.get("id").opt_text()
        if trade_id is None:
            # No id on the wire: the order, the fill's own fields, and its rank
            # among identical fills of that order (stable however often read).
            trade_id = synthetic_trade_id("wallex", client_order_id, *key, rank)
        maker = (row.get("makerType").opt_text() or "").upper()
        return Fill(
            trade_id=trade_id,
            market=spec.market if spec else (row.get("symbol").opt_text() or ""),
            side=Side(side) if side in ("buy", "sell") else None,
            price=row["price"].decimal() * scale,
            quantity=row["quantity"].decimal(),
            fee=to_rial(fee_asset, row.get("fee").opt_decimal() or ZERO),
            fee_asset=project_asset(fee_asset) if fee_asset else "",
            timestamp=row.get("timestamp").iso_time(),
            exchange_order_id=client_order_id,
            client_order_id=client_order_id,
            is_maker=(maker == "MAKER") if maker else None,
        )


def _order_rows(result: Node) -> list[Node]:
    """Orders of a list answer: ``result`` a list, ``result.orders``, or a map
    of lists (the new docs' open orders)."""
    if result.is_list():
        return result.list()
    if result.has("orders"):
        return result["orders"].list()
    rows: list[Node] = []
    for _, value in result.items():
        if value.is_list():
            rows.extend(value.list())
    return rows


def _rows(entries: Node) -> list[tuple[Node, Node]]:
    """Depth entries ``{"price","quantity"}``; quantity a string or a number [?]."""
    nodes = [n for _, n in entries.items()] if entries.is_obj() else entries.list()
    return [(entry["price"], entry["quantity"]) for entry in nodes]


def _places(node: Node) -> Decimal | None:
    """A step given as a number of decimal places (``6`` → 0.000001)."""
    places = node.opt_decimal()
    if places is None:
        return None
    if places != places.to_integral_value() or places < 0 or places > 18:
        raise node.fail(f"expected a number of decimal places, got {node.value!r}")
    return Decimal(1).scaleb(-int(places))


def _transact_time(node: Node):
    """``transactTime``: seconds (ms when it is that large); 0 is no time."""
    value = node.opt_decimal()
    if value is None or value <= 0:
        return None
    if value > 10**11:
        return node.ms_time()
    return node.seconds_time()
