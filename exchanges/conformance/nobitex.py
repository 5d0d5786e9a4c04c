"""Nobitex's open points (docs/EXCHANGES.md, "What only a live check can settle").

- ``nobitex-not-found``: the answer to a status lookup of an unknown
  ``clientOrderId`` is undocumented: a random id is looked up and the answer
  classified.
- ``nobitex-details-client-id``, ``nobitex-decimals``, ``nobitex-page-size``:
  read off the order list with ``details=2`` (the account's own orders, or
  the test order); the page-size cap shows only with more than 100 orders.
- ``nobitex-total-price``: ``totalPrice`` of an order that matched nothing
  (the test order, or an unfilled order of the account): "0" or amount x
  price.
- "clientOrderId lookups find open orders only" (notes 3): the test order,
  looked up by its client order id once cancelled.
- ``nobitex-duplicate-order`` is not probed: it needs two identical orders,
  and arbsite sends ``"pro": "yes"``, which turns the check off.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Any

from exchanges.adapters.nobitex import _NOT_FOUND_CODES
from exchanges.errors import ExchangeError
from exchanges.http import Call, RawAnswer
from exchanges.ratelimit import OPEN_ORDERS, STATUS
from exchanges.types import ExchangeOrder, OrderRequest

from .context import Probe, snippet
from .report import Verdict

PADDED = re.compile(r"^-?\d+\.\d{10}$")
DETAIL_FIELDS = ("id", "status", "fee", "created_at", "averagePrice")


def _status_call(payload: dict[str, Any]) -> Call:
    return Call("POST", "/market/orders/status", STATUS, json_body=payload, lookup=True)


def classify_not_found(answer: RawAnswer) -> str | None:
    """Which ``nobitex-not-found`` reading ``answer`` is, or None."""
    body = answer.body
    if isinstance(body, dict) and str(body.get("status", "")).lower() == "failed" \
            and str(body.get("code") or "") in _NOT_FOUND_CODES:
        return {200: "failed", 404: "failed-404"}.get(answer.status)
    if answer.status == 404 and isinstance(body, dict) \
            and str(body.get("detail", "")).strip(". ").lower() == "not found":
        return "drf"
    if answer.status == 200 and isinstance(body, dict) \
            and str(body.get("status", "")).lower() == "ok" and body.get("order") is None:
        return "empty"
    return None


def _decimals(rows: list[dict]) -> str | None:
    """``padded`` when every decimal is written to ten places, ``plain`` when
    one is not, None with nothing to look at."""
    values = [str(row.get(key)) for row in rows for key in ("amount", "matchedAmount")
              if isinstance(row.get(key), str)]
    if not values:
        return None
    return "padded" if all(PADDED.match(v) or v == "0E-10" for v in values) else "plain"


class NobitexProbes:
    kind = "nobitex"
    # A cancelled order is not found by clientOrderId (notes 3): read it by id.
    closed_by_client_id = False

    # -- read-only --------------------------------------------------------------------

    def read_only(self, probe: Probe) -> None:
        probe.unsettled("nobitex-duplicate-order", "not probed: it takes two identical orders, "
                        "and pro=yes turns the check off")
        probe.guarded("looking up an unknown client order id", self._not_found)
        probe.guarded("reading the order list (details=2)", self._orders_list)

    def _not_found(self, probe: Probe) -> None:
        client_id = f"NT_PROBE_{secrets.token_hex(8).upper()}"
        answer = probe.raw(_status_call({"clientOrderId": client_id}))
        value = classify_not_found(answer)
        if value is None:
            probe.row("nobitex-not-found", f"{probe.configured('nobitex-not-found')}: one of "
                      "the four readings the adapter recognises", f"unrecognised: "
                      f"{snippet(answer)}", Verdict.FAIL)
            return
        probe.variant("nobitex-not-found", value, snippet(answer))

    def _list(self, probe: Probe, **params: str) -> list[dict]:
        answer = probe.raw(Call("GET", "/market/orders/list", OPEN_ORDERS,
                                params={"details": "2", **params}))
        body = answer.body
        if answer.status != 200 or not isinstance(body, dict) \
                or not isinstance(body.get("orders"), list):
            raise ExchangeError("nobitex", f"order list: {snippet(answer)}")
        return [row for row in body["orders"] if isinstance(row, dict)]

    def _orders_list(self, probe: Probe) -> None:
        rows = self._list(probe, status="all", pageSize="1000", page="1")
        if not rows:
            why = "no order in the account to read (a test order would show it)"
            probe.row("order list rows (details=2)", "id, status, fee, created_at, "
                      "averagePrice [doc]", why, Verdict.UNSEEN)
            for name in ("nobitex-details-client-id", "nobitex-decimals"):
                probe.unsettled(name, why)
            probe.unsettled("nobitex-page-size", "fewer than 101 orders in the account")
            probe.unsettled("nobitex-total-price", why)
            return
        self.judge_rows(probe, rows)
        if len(rows) > 100:
            probe.variant("nobitex-page-size", "1000", f"pageSize=1000 gave {len(rows)} rows")
        elif len(rows) == 100 and self._list(probe, status="all", pageSize="100", page="2"):
            probe.variant("nobitex-page-size", "100",
                          "pageSize=1000 gave 100 rows and a second page of 100 follows")
        else:
            probe.unsettled("nobitex-page-size", f"only {len(rows)} orders in the account")
        unmatched = [row for row in rows if str(row.get("matchedAmount")) in ("0", "0E-10")
                     or _zero(row.get("matchedAmount"))]
        unmatched = [row for row in unmatched if _number(row.get("price")) is not None]
        if unmatched:
            self.total_price(probe, unmatched[0])
        else:
            probe.unsettled("nobitex-total-price", "no unfilled order in the account to read")

    def judge_rows(self, probe: Probe, rows: list[dict], *,
                   where: str = "the account's orders") -> None:
        missing = sorted({key for row in rows for key in ("id", "status") if key not in row})
        if missing:
            probe.row("order list rows (details=2)", "id, status, fee, created_at, "
                      "averagePrice [doc]", f"rows lack {', '.join(missing)}", Verdict.FAIL)
        else:
            have = [key for key in DETAIL_FIELDS if all(key in row for row in rows)]
            probe.row("order list rows (details=2)", "id, status, fee, created_at, "
                      "averagePrice [doc]", f"{where} ({len(rows)}) carry {', '.join(have)}",
                      Verdict.PASS)
        carries = any("clientOrderId" in row for row in rows)
        probe.variant("nobitex-details-client-id", "yes" if carries else "no",
                      f"rows {'carry' if carries else 'do not carry'} clientOrderId")
        decimals = _decimals(rows)
        if decimals:
            sample = next(str(row.get("amount")) for row in rows if "amount" in row)
            probe.variant("nobitex-decimals", decimals, f"amounts like {sample!r}")

    def total_price(self, probe: Probe, row: dict) -> None:
        """``totalPrice`` of an order that matched nothing: 0 (executed value) or
        amount x price (the order's value)."""
        answer = probe.raw(_status_call({"id": int(row["id"])}))
        order = answer.body.get("order") if isinstance(answer.body, dict) else None
        total = _number(order.get("totalPrice")) if isinstance(order, dict) else None
        amount = _number(order.get("amount")) if isinstance(order, dict) else None
        price = _number(order.get("price")) if isinstance(order, dict) else None
        if total is None or amount is None or price is None:
            probe.unsettled("nobitex-total-price", f"status of order {row.get('id')}: "
                                                   f"{snippet(answer)}")
        elif total == 0:
            probe.variant("nobitex-total-price", "matched",
                          f"order {row['id']} matched nothing: totalPrice {order['totalPrice']}")
        elif total == amount * price:
            probe.variant("nobitex-total-price", "order",
                          f"order {row['id']} matched nothing: totalPrice {order['totalPrice']}"
                          " = amount x price")
        else:
            probe.row("nobitex-total-price", "0 (executed value) or amount x price",
                      f"order {row['id']}: totalPrice {order['totalPrice']}, neither",
                      Verdict.FAIL)

    # -- the test order ----------------------------------------------------------------

    def place(self, probe: Probe, request: OrderRequest, note_sent) -> ExchangeOrder:
        note_sent(request.client_order_id)
        return probe.adapter().place_order(request)

    def observe_open(self, probe: Probe, order: ExchangeOrder) -> None:
        answer = probe.raw(_status_call({"clientOrderId": order.client_order_id}))
        found = isinstance(answer.body, dict) and isinstance(answer.body.get("order"), dict)
        probe.row("open order found by clientOrderId", "status by clientOrderId finds an "
                  "open order [doc: notes 3]", snippet(answer, 100),
                  Verdict.PASS if found else Verdict.FAIL)
        rows = [row for row in self._list(probe, status="open", pageSize="100", page="1")
                if str(row.get("id")) == str(order.exchange_order_id)]
        if rows:
            self.judge_rows(probe, rows, where="the test order's row")
        else:
            probe.row("order list rows (details=2)", "the open test order is listed",
                      "not in the first page of open orders", Verdict.FAIL)
        self.total_price(probe, {"id": order.exchange_order_id})

    def observe_closed(self, probe: Probe, order: ExchangeOrder) -> None:
        answer = probe.raw(_status_call({"clientOrderId": order.client_order_id}))
        shape = classify_not_found(answer)
        if shape is not None:
            probe.row("closed order by clientOrderId", "not found: lookups by clientOrderId "
                      "search open orders only [doc: notes 3]", f"not found ({shape})",
                      Verdict.PASS)
        elif isinstance(answer.body, dict) and isinstance(answer.body.get("order"), dict):
            probe.row("closed order by clientOrderId", "not found: lookups by clientOrderId "
                      "search open orders only [doc: notes 3]", "found (closed orders are "
                      "searched too; recovery's list search stays as a fallback)", Verdict.PASS)
        else:
            probe.row("closed order by clientOrderId", "not found: lookups by clientOrderId "
                      "search open orders only [doc: notes 3]", snippet(answer), Verdict.FAIL)


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "", "market") else None
    except ArithmeticError:
        return None


def _zero(value: Any) -> bool:
    number = _number(value)
    return number is not None and number == 0
