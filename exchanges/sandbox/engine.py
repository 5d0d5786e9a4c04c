"""The matching engine of one exchange: accounts, orders, fills, fees and balances.

Exchange-neutral: prices and amounts are in the exchange's native units and the wire
modules translate to and from each exchange's vocabulary. Not thread-safe by itself;
``Engine.lock`` is held by the caller (the HTTP layer and the drift ticker).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from .accounts import SandboxAccount, Wallet
from .books import Book, quantize
from .markets import MAKER_FEES, MARKETS, TAKER_FEES, Market

ZERO = Decimal(0)
BAD_PRICE_BAND = Decimal("0.3")  # limit prices further than 30% from mid are refused
MARKET_BAND = Decimal("0.01")  # a guided market order fills within 1% of its guide


class EngineError(Exception):
    """A refused request; ``code`` is exchange-neutral, the wire layer maps it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    maker: bool
    at: float

    @property
    def total(self) -> Decimal:
        return self.price * self.amount


@dataclass
class Order:
    id: int
    uuid: str
    api_key: str
    symbol: str
    side: str  # buy | sell
    kind: str  # limit | market
    price: Decimal | None
    amount: Decimal
    client_id: str | None
    created_at: float
    updated_at: float
    status: str = "open"  # open | filled | canceled
    canceled_by: str | None = None  # user | system
    cancel_id: str | None = None
    cancel_due: float | None = None  # asynchronous cancel pending until this time
    filled: Decimal = ZERO
    filled_total: Decimal = ZERO  # sum of price * amount of the fills
    fee: Decimal = ZERO
    fee_currency: str = ""
    reserved: Decimal = ZERO  # what this order still blocks in the wallet
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def average_price(self) -> Decimal:
        return self.filled_total / self.filled if self.filled else ZERO


@dataclass
class Counters:
    requests: int = 0
    rate_limited: int = 0
    orders_placed: int = 0
    duplicate_client_ids: int = 0
    faults_injected: int = 0
    lost_answers: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Engine:
    """Accounts, books and orders of one exchange."""

    def __init__(self, exchange: str, *, seed: int | None = None,
                 cancel_delay: float = 0.0, client_id_scope: str = "open",
                 round_to_precision: bool = False) -> None:
        self.exchange = exchange
        self.lock = threading.RLock()
        self.markets: dict[str, Market] = MARKETS[exchange]
        self.books: dict[str, Book] = {}
        self.accounts: dict[str, SandboxAccount] = {}
        self.wallets: dict[str, Wallet] = {}
        self.orders: dict[int, Order] = {}
        self.by_uuid: dict[str, Order] = {}
        # indexes, so that books with thousands of orders stay cheap to match and look up
        self._resting: dict[str, dict[int, Order]] = {}  # symbol -> matchable limit orders
        self._by_account: dict[str, list[Order]] = {}
        self._by_client_id: dict[tuple[str, str], list[Order]] = {}
        self._cancelling: list[Order] = []  # asynchronous cancels not yet done
        self.counters = Counters()
        self.cancel_delay = cancel_delay
        self.client_id_scope = client_id_scope  # "open" (Nobitex) or "all"
        self.round_to_precision = round_to_precision  # Nobitex rounds, others refuse
        self.taker_fee = TAKER_FEES[exchange]
        self.maker_fee = MAKER_FEES[exchange]
        # Ids never repeat, across restarts too and even if the state file is lost: the
        # counters start at the clock in microseconds (far above any id issued before,
        # since no exchange here takes an order a microsecond) or where the state left them.
        floor = id_floor()
        self._next_order = floor
        self._next_trade = floor
        self.version = 0  # bumped on every change; the state writer watches it
        # (asks, bids) -> (asks, bids) as served; the world installs its faults' view.
        self.book_view: Callable[[list, list], tuple[list, list]] = lambda asks, bids: (asks,
                                                                                        bids)

    # -- accounts -------------------------------------------------------------------

    def register(self, account: SandboxAccount) -> None:
        self.accounts[account.api_key] = account
        self.wallets[account.api_key] = Wallet(total=dict(account.balances or {}))
        self.version += 1

    def can_trade(self, api_key: str) -> bool:
        account = self.accounts.get(api_key)
        return account is not None and "trade" in account.permissions

    def wallet(self, api_key: str) -> Wallet:
        return self.wallets[api_key]

    # -- orders ---------------------------------------------------------------------

    def place(self, api_key: str, *, symbol: str, side: str, kind: str, amount: Decimal,
              price: Decimal | None, client_id: str | None,
              market_guide: Decimal | None = None) -> Order:
        """Validate, reserve, match what crosses and rest the remainder of a limit order.

        ``market_guide`` (Nobitex's ``price`` on a market order) keeps a market order
        from filling more than 1% beyond it.
        """
        mkt = self.markets.get(symbol)
        if mkt is None:
            raise EngineError("unknown_market", f"Unknown market {symbol}")
        if side not in ("buy", "sell") or kind not in ("limit", "market"):
            raise EngineError("invalid", "Invalid side or order type")
        if amount is None or amount <= 0:
            raise EngineError("invalid_amount", "Amount must be positive")
        if kind == "limit" and (price is None or price <= 0):
            raise EngineError("invalid_price", "A limit order needs a positive price")
        amount, price = self._precision(mkt, amount, price if kind == "limit" else None)
        book = self.book(symbol)
        self._check_duplicate(api_key, client_id)
        mid = book.mid()
        if kind == "limit" and mid and abs(price - mid) > mid * BAD_PRICE_BAND:
            raise EngineError("bad_price", "Price is too far from the market")
        reference = price if kind == "limit" else (mid or ZERO)
        value = amount * reference
        if value < mkt.min_notional:
            raise EngineError("small_order", f"Order value is below {mkt.min_notional}")
        if mkt.max_notional is not None and value > mkt.max_notional:
            raise EngineError("large_order", f"Order value is above {mkt.max_notional}")

        bound = price
        if kind == "market" and market_guide is not None:
            bound = market_guide * (1 + MARKET_BAND if side == "buy" else 1 - MARKET_BAND)
        wallet = self.wallets[api_key]
        if side == "buy":
            currency = mkt.quote_currency
            need = amount * price if kind == "limit" else self._market_cost(book, amount, bound)
        else:
            currency, need = mkt.base_currency, amount
        if wallet.available(currency) < need:
            raise EngineError("insufficient", f"Insufficient {currency} balance")

        now = time.time()
        order = Order(
            id=self._next_order, uuid=str(uuid.uuid4()),
            api_key=api_key, symbol=symbol, side=side, kind=kind, price=price, amount=amount,
            client_id=client_id, created_at=now, updated_at=now,
            fee_currency=mkt.base_currency if side == "buy" else mkt.quote_currency,
            reserved=need,
        )
        self._next_order += 1
        wallet.block(currency, need)
        self.orders[order.id] = order
        self.by_uuid[order.uuid] = order
        self._by_account.setdefault(api_key, []).append(order)
        if client_id:
            self._by_client_id.setdefault((api_key, client_id), []).append(order)
        self.counters.orders_placed += 1
        self.version += 1

        self._take(order, mkt, book, bound)
        if order.is_open:
            if order.kind == "market":
                self._close(order, "canceled", by="system")
            else:
                self._resting.setdefault(symbol, {})[order.id] = order
        return order

    def cancel(self, order: Order, *, by: str = "user") -> Order:
        """Cancel an open order: at once, or after ``cancel_delay`` seconds (Invex)."""
        if not order.is_open or order.cancel_due is not None:
            raise EngineError("not_open", "Order is not open")
        order.cancel_id = str(uuid.uuid4())
        self.version += 1
        if self.cancel_delay > 0:
            order.cancel_due = time.time() + self.cancel_delay
            self._resting.get(order.symbol, {}).pop(order.id, None)  # stops matching now
            self._cancelling.append(order)
        else:
            self._close(order, "canceled", by=by)
        return order

    def find(self, api_key: str, *, order_id: int | None = None, order_uuid: str | None = None,
             client_id: str | None = None) -> Order | None:
        """An account's order by exchange id, uuid or client order id (newest wins)."""
        if order_id is not None:
            order = self.orders.get(order_id)
        elif order_uuid is not None:
            order = self.by_uuid.get(order_uuid)
        elif client_id is not None:
            order = next(
                (o for o in reversed(self._by_client_id.get((api_key, client_id), []))
                 if self.client_id_scope == "all" or o.is_open),
                None,
            )
        else:
            return None
        return order if order is not None and order.api_key == api_key else None

    def account_orders(self, api_key: str) -> list[Order]:
        return list(self._by_account.get(api_key, []))

    def account_fills(self, api_key: str) -> list[Fill]:
        return sorted(
            (f for o in self.account_orders(api_key) for f in o.fills),
            key=lambda f: f.trade_id,
        )

    # -- books ----------------------------------------------------------------------

    def book(self, symbol: str) -> Book:
        return self.books.setdefault(symbol, Book())

    def served(self, symbol: str, depth: int | None = None) -> tuple[list, list]:
        """(asks, bids) of a book as the wire serves it: through ``book_view``
        (the world's hostile-book faults), then cut to ``depth``. Matching
        never reads this: it uses the real book."""
        asks, bids = self.book_view(*self.book(symbol).snapshot())
        return asks[:depth], bids[:depth]

    def set_book(self, symbol: str, book: Book) -> None:
        """Replace a book (drift or the control API), then let resting orders meet it."""
        self.books[symbol] = book
        self.match_resting(symbol)

    def match_resting(self, symbol: str) -> None:
        """Fill resting limit orders the book has moved through, at their own price."""
        mkt = self.markets[symbol]
        book = self.book(symbol)
        for order in sorted(self._resting.get(symbol, {}).values(), key=lambda o: o.id):
            levels = book.asks if order.side == "buy" else book.bids
            for level in levels:
                if order.remaining <= 0:
                    break
                level_price, level_amount = level
                if level_amount <= 0:
                    continue
                crosses = (level_price <= order.price if order.side == "buy"
                           else level_price >= order.price)
                if not crosses:
                    break
                amount = min(level_amount, order.remaining)
                level[1] = level_amount - amount
                self._fill(order, mkt, order.price, amount, maker=True)

    def process_due(self, now: float | None = None) -> None:
        """Finish asynchronous cancels whose time has come."""
        if not self._cancelling:
            return
        now = time.time() if now is None else now
        for order in [o for o in self._cancelling if o.cancel_due <= now]:
            self._close(order, "canceled", by="user")

    # -- internals ------------------------------------------------------------------

    def _precision(self, mkt: Market, amount: Decimal,
                   price: Decimal | None) -> tuple[Decimal, Decimal | None]:
        if self.round_to_precision:
            amount = quantize(amount, mkt.step, ROUND_DOWN)
            if price is not None:
                price = quantize(price, mkt.tick, ROUND_HALF_EVEN)
            if amount <= 0:
                raise EngineError("small_order", "Amount is below the market's precision")
            return amount, price
        if amount % mkt.step != 0:
            raise EngineError("amount_precision", f"Amount must be a multiple of {mkt.step}")
        if price is not None and price % mkt.tick != 0:
            raise EngineError("price_precision", f"Price must be a multiple of {mkt.tick}")
        return amount, price

    def _check_duplicate(self, api_key: str, client_id: str | None) -> None:
        if not client_id:
            return
        if self.find(api_key, client_id=client_id) is not None:
            self.counters.duplicate_client_ids += 1
            raise EngineError("duplicate_client_id", f"Duplicate client order id {client_id}")

    @staticmethod
    def _market_cost(book: Book, amount: Decimal, bound: Decimal | None) -> Decimal:
        cost, left = ZERO, amount
        for price, level_amount in book.asks:
            if left <= 0 or (bound is not None and price > bound):
                break
            take = min(level_amount, left)
            cost += take * price
            left -= take
        return cost

    def _take(self, order: Order, mkt: Market, book: Book, bound: Decimal | None) -> None:
        """Fill against the book at its level prices, never beyond ``bound``."""
        levels = book.asks if order.side == "buy" else book.bids
        for level in levels:
            if order.remaining <= 0:
                break
            level_price, level_amount = level
            if level_amount <= 0:
                continue
            if bound is not None and (
                level_price > bound if order.side == "buy" else level_price < bound
            ):
                break
            amount = min(level_amount, order.remaining)
            level[1] = level_amount - amount
            self._fill(order, mkt, level_price, amount, maker=False)

    def _fill(self, order: Order, mkt: Market, price: Decimal, amount: Decimal, *,
              maker: bool) -> None:
        wallet = self.wallets[order.api_key]
        rate = self.maker_fee if maker else self.taker_fee
        total = price * amount
        if order.side == "buy":
            release = total if order.kind == "market" else order.price * amount
            fee = amount * rate
            wallet.blocked[mkt.quote_currency] -= release
            wallet.add(mkt.quote_currency, -total)
            wallet.add(mkt.base_currency, amount - fee)
        else:
            release = amount
            fee = total * rate
            wallet.blocked[mkt.base_currency] -= release
            wallet.add(mkt.base_currency, -amount)
            wallet.add(mkt.quote_currency, total - fee)
        order.reserved -= release
        order.filled += amount
        order.filled_total += total
        order.fee += fee
        order.updated_at = time.time()
        order.fills.append(Fill(
            trade_id=self._next_trade, order_id=order.id, symbol=order.symbol, side=order.side,
            price=price, amount=amount, fee=fee, fee_currency=order.fee_currency, maker=maker,
            at=order.updated_at,
        ))
        self._next_trade += 1
        self.version += 1
        if order.remaining <= 0:
            self._close(order, "filled")

    def _close(self, order: Order, status: str, *, by: str | None = None) -> None:
        """End an order and give back whatever it still blocks."""
        mkt = self.markets[order.symbol]
        currency = mkt.quote_currency if order.side == "buy" else mkt.base_currency
        wallet = self.wallets[order.api_key]
        wallet.blocked[currency] = wallet.blocked.get(currency, ZERO) - order.reserved
        order.reserved = ZERO
        self._resting.get(order.symbol, {}).pop(order.id, None)
        if order.cancel_due is not None:
            self._cancelling.remove(order)
        order.status = status
        order.canceled_by = by if status == "canceled" else None
        order.cancel_due = None
        order.updated_at = time.time()
        self.version += 1

    # -- persistence ----------------------------------------------------------------

    def to_state(self) -> dict:
        """Orders, fills, wallets and id counters, JSON-ready (Decimals as strings)."""
        return {
            "next_order": self._next_order,
            "next_trade": self._next_trade,
            "wallets": {
                key: {"total": {c: str(v) for c, v in w.total.items()},
                      "blocked": {c: str(v) for c, v in w.blocked.items()}}
                for key, w in self.wallets.items()
            },
            "orders": [_order_state(o) for o in self.orders.values()],
        }

    def restore(self, state: dict, *, keep_closed_seconds: float) -> None:
        """Load what ``to_state`` wrote; closed orders older than the horizon are dropped.

        Accounts registered since (the demo's credentials) keep their registration; their
        wallets come back from the state when it has them.
        """
        self._next_order = max(self._next_order, int(state["next_order"]))
        self._next_trade = max(self._next_trade, int(state["next_trade"]))
        for key, wallet in state.get("wallets", {}).items():
            self.wallets[key] = Wallet(
                total={c: Decimal(v) for c, v in wallet["total"].items()},
                blocked={c: Decimal(v) for c, v in wallet["blocked"].items()},
            )
        horizon = time.time() - keep_closed_seconds
        for raw in state.get("orders", []):
            order = _order_from_state(raw)
            if order.symbol not in self.markets:
                raise ValueError(f"order {order.id} names unknown market {order.symbol}")
            if not order.is_open and order.updated_at < horizon:
                continue
            self.orders[order.id] = order
            self.by_uuid[order.uuid] = order
            self._by_account.setdefault(order.api_key, []).append(order)
            if order.client_id:
                self._by_client_id.setdefault((order.api_key, order.client_id), []).append(order)
            if order.cancel_due is not None:
                self._cancelling.append(order)
            elif order.is_open and order.kind == "limit":
                self._resting.setdefault(order.symbol, {})[order.id] = order
        for orders in self._by_account.values():
            orders.sort(key=lambda o: o.id)
        self.counters.orders_placed = len(self.orders)
        self.version += 1


def id_floor() -> int:
    """The clock in microseconds: where id counters start."""
    return time.time_ns() // 1000


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _order_state(order: Order) -> dict:
    return {
        "id": order.id, "uuid": order.uuid, "api_key": order.api_key, "symbol": order.symbol,
        "side": order.side, "kind": order.kind, "price": _dec(order.price),
        "amount": str(order.amount), "client_id": order.client_id,
        "created_at": order.created_at, "updated_at": order.updated_at,
        "status": order.status, "canceled_by": order.canceled_by,
        "cancel_id": order.cancel_id, "cancel_due": order.cancel_due,
        "filled": str(order.filled), "filled_total": str(order.filled_total),
        "fee": str(order.fee), "fee_currency": order.fee_currency,
        "reserved": str(order.reserved),
        "fills": [
            {"trade_id": f.trade_id, "price": str(f.price), "amount": str(f.amount),
             "fee": str(f.fee), "maker": f.maker, "at": f.at}
            for f in order.fills
        ],
    }


def _order_from_state(raw: dict) -> Order:
    order = Order(
        id=int(raw["id"]), uuid=str(raw["uuid"]), api_key=str(raw["api_key"]),
        symbol=str(raw["symbol"]), side=str(raw["side"]), kind=str(raw["kind"]),
        price=None if raw["price"] is None else Decimal(raw["price"]),
        amount=Decimal(raw["amount"]), client_id=raw["client_id"],
        created_at=float(raw["created_at"]), updated_at=float(raw["updated_at"]),
        status=str(raw["status"]), canceled_by=raw["canceled_by"], cancel_id=raw["cancel_id"],
        cancel_due=None if raw["cancel_due"] is None else float(raw["cancel_due"]),
        filled=Decimal(raw["filled"]), filled_total=Decimal(raw["filled_total"]),
        fee=Decimal(raw["fee"]), fee_currency=str(raw["fee_currency"]),
        reserved=Decimal(raw["reserved"]),
    )
    if order.status not in ("open", "filled", "canceled") or order.side not in ("buy", "sell"):
        raise ValueError(f"order {order.id}: bad status or side")
    order.fills = [
        Fill(trade_id=int(f["trade_id"]), order_id=order.id, symbol=order.symbol,
             side=order.side, price=Decimal(f["price"]), amount=Decimal(f["amount"]),
             fee=Decimal(f["fee"]), fee_currency=order.fee_currency, maker=bool(f["maker"]),
             at=float(f["at"]))
        for f in raw["fills"]
    ]
    return order
