"""Wallex's open points (docs/EXCHANGES.md, "What only a live check can settle").

- ``wallex-numbers``: depth quantities and market rules as JSON strings or
  numbers (``GET /v1/depth``, ``GET /v1/markets``).
- ``wallex-open-orders``: ``result`` a map of lists or ``result.orders``.
- "an unknown client id is 404 Order not found" [doc:
  generated-get-orders-client].
- ``wallex-cancel``: which cancel form is served, asked with a random id in
  both forms (cancelling nothing): the served one answers "Order not found".
- ``wallex-client-id``: the test order is first sent with a client id
  outside the strict rule (lower case and ``-``); refused, it is sent again
  with a strict id. At most one order is placed.
- ``wallex-balance-value``: the balance of the quote before and after the
  test order: ``value`` unchanged while ``locked`` grew is the total.
- ``wallex-finished``: the status the cancel answers and a later lookup show.
- ``wallex-partial-status`` is not probed (it needs a partly filled open
  order); the adapter reads both.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from urllib.parse import quote

from exchanges.errors import ExchangeError, RejectedError
from exchanges.http import Call, CallKind, RawAnswer
from exchanges.ratelimit import BALANCES, BOOK, CANCEL, OPEN_ORDERS, STATUS
from exchanges.types import ExchangeOrder, OrderRequest

from .context import Probe, snippet
from .report import Verdict


def _message(answer: RawAnswer) -> str:
    body = answer.body
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _order_not_found(answer: RawAnswer) -> bool:
    """The documented 404 to an unknown client id: an envelope saying so."""
    body = answer.body
    return (answer.status == 404 and isinstance(body, dict) and body.get("success") is False
            and "order" in _message(answer).lower())


def _served(answer: RawAnswer) -> bool:
    """Did a cancel route answer (about the order), rather than "no such route"?"""
    if _order_not_found(answer):
        return True
    # A key without the trade permission is refused by the route itself.
    return answer.status in (401, 403, 422) and isinstance(answer.body, dict)


class WallexProbes:
    kind = "wallex"
    closed_by_client_id = True

    def __init__(self) -> None:
        self.balance_before: dict[str, tuple[Decimal, Decimal]] = {}
        self.cancel_status: str | None = None

    # -- read-only --------------------------------------------------------------------

    def read_only(self, probe: Probe) -> None:
        probe.unsettled("wallex-partial-status", "not probed: it takes a partly filled open "
                        "order")
        probe.guarded("reading the depth for its number types", self._numbers)
        probe.guarded("reading open orders for their shape", self._open_orders)
        probe.guarded("looking up an unknown client id", self._not_found)
        probe.guarded("asking both cancel forms about an unknown client id", self._cancel_form)

    def _numbers(self, probe: Probe) -> None:
        spec = next(iter(probe.adapter().markets.values()), None)
        if spec is None:
            probe.unsettled("wallex-numbers", "no market configured")
            return
        answer = probe.raw(Call("GET", "/v1/depth", BOOK, params={"symbol": spec.symbol}))
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        levels = [] if not isinstance(result, dict) else [
            level for side in ("ask", "bid") for level in (result.get(side) or [])
            if isinstance(level, dict)]
        kinds = {type(level.get("quantity")).__name__ for level in levels}
        if not levels:
            probe.unsettled("wallex-numbers", f"depth of {spec.symbol}: {snippet(answer)}")
        elif kinds == {"str"}:
            probe.variant("wallex-numbers", "string", f"{spec.symbol} depth quantities are "
                                                      "JSON strings")
        elif "str" not in kinds:
            probe.variant("wallex-numbers", "number", f"{spec.symbol} depth quantities are "
                                                      "JSON numbers")
        else:
            probe.row("wallex-numbers", "all strings or all numbers",
                      f"{spec.symbol} depth mixes strings and numbers", Verdict.PASS)

    def _open_orders(self, probe: Probe) -> None:
        answer = probe.raw(Call("GET", "/v1/account/openOrders", OPEN_ORDERS,
                                params={"page": "1", "per_page": "1"}))
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        if answer.status != 200 or not isinstance(result, dict | list):
            probe.row("wallex-open-orders", "result a map of lists or result.orders",
                      snippet(answer), Verdict.FAIL)
        elif isinstance(result, dict) and isinstance(result.get("orders"), list):
            probe.variant("wallex-open-orders", "list", "result.orders is a list")
        elif isinstance(result, dict) and all(isinstance(v, list) for v in result.values()):
            probe.variant("wallex-open-orders", "map",
                          f"result is a map of lists ({len(result)} symbols)")
        else:
            probe.row("wallex-open-orders", "result a map of lists or result.orders",
                      snippet(answer), Verdict.FAIL)

    def _not_found(self, probe: Probe) -> None:
        client_id = f"WT_PROBE_{secrets.token_hex(8).upper()}"
        answer = probe.raw(Call("GET", f"/v1/account/orders/{client_id}", STATUS))
        probe.row("unknown client id", "HTTP 404 'Order not found' in the envelope [doc: "
                  "generated-get-orders-client]", snippet(answer),
                  Verdict.PASS if _order_not_found(answer) else Verdict.FAIL)

    def _cancel_form(self, probe: Probe) -> None:
        client_id = f"WT_PROBE_{secrets.token_hex(8).upper()}"
        by_query = probe.raw(Call("DELETE", "/v1/account/orders", CANCEL, CallKind.CANCEL,
                                  params={"clientOrderId": client_id}))
        by_path = probe.raw(Call("DELETE", f"/v1/account/orders/{quote(client_id)}", CANCEL,
                                 CallKind.CANCEL))
        query, path = _served(by_query), _served(by_path)
        answered = f"query form: {snippet(by_query, 70)}; path form: {snippet(by_path, 70)}"
        if query and not path:
            probe.variant("wallex-cancel", "query", answered)
        elif path and not query:
            probe.variant("wallex-cancel", "path", answered)
        elif path and query:
            probe.row("wallex-cancel", "one of the two forms is served",
                      f"both are (the configured one is tried first); {answered}", Verdict.PASS)
        else:
            probe.row("wallex-cancel", "one of the two forms is served",
                      f"neither answered about the order; {answered}", Verdict.FAIL)

    # -- the test order ----------------------------------------------------------------

    def _balances(self, probe: Probe) -> dict[str, tuple[Decimal, Decimal]]:
        answer = probe.raw(Call("GET", "/v1/account/balances", BALANCES))
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        rows = result.get("balances") if isinstance(result, dict) else None
        if not isinstance(rows, dict):
            raise ExchangeError("wallex", f"balances: {snippet(answer)}")
        out = {}
        for asset, row in rows.items():
            if isinstance(row, dict):
                out[str(row.get("asset") or asset).upper()] = (
                    Decimal(str(row.get("value") or 0)), Decimal(str(row.get("locked") or 0)))
        return out

    def place(self, probe: Probe, request: OrderRequest, note_sent) -> ExchangeOrder:
        self.balance_before = self._balances(probe)
        lax_id = "wt-probe-" + secrets.token_hex(6)
        lax = OrderRequest(request.market, request.side, request.type, request.quantity,
                           lax_id, request.price)
        note_sent(lax_id)
        try:
            order = probe.adapter().place_order(lax)
        except RejectedError as exc:
            if exc.http_status != 400:
                raise
            refusal = str(exc)
            note_sent(request.client_order_id)
            order = probe.adapter().place_order(request)
            probe.variant("wallex-client-id", "strict",
                          f"{lax_id!r} refused ({refusal[:90]}); {request.client_order_id} "
                          "accepted")
            return order
        probe.variant("wallex-client-id", "lax", f"{lax_id!r} accepted")
        return order

    def observe_open(self, probe: Probe, order: ExchangeOrder) -> None:
        after = self._balances(probe)
        spec = probe.adapter().spec(order.market)
        asset = (spec.quote if order.side.value == "buy" else spec.base)
        wallex_asset = "TMN" if asset == "IRR" else asset
        before = self.balance_before.get(wallex_asset)
        now = after.get(wallex_asset)
        if before is None or now is None:
            probe.unsettled("wallex-balance-value", f"no {wallex_asset} balance to compare")
            return
        locked_more = now[1] - before[1]
        if locked_more <= 0:
            probe.unsettled("wallex-balance-value", f"{wallex_asset} locked did not grow "
                            f"({before[1]} → {now[1]})")
        elif now[0] == before[0]:
            probe.variant("wallex-balance-value", "total",
                          f"{wallex_asset} locked +{locked_more}, value unchanged")
        elif before[0] - now[0] == locked_more:
            probe.variant("wallex-balance-value", "available",
                          f"{wallex_asset} locked +{locked_more}, value −{locked_more}")
        else:
            probe.unsettled("wallex-balance-value", f"{wallex_asset} value {before[0]} → "
                            f"{now[0]}, locked {before[1]} → {now[1]}: moved by something else")

    def cancel(self, probe: Probe, order: ExchangeOrder) -> None:
        """The cancel in the form the exchange serves, its answer read for
        ``wallex-finished`` (the adapter's cancel is the fallback)."""
        client_id = order.client_order_id or ""
        if probe.variants_now().get("wallex-cancel", "query") == "path":
            call = Call("DELETE", f"/v1/account/orders/{quote(client_id)}", CANCEL,
                        CallKind.CANCEL)
        else:
            call = Call("DELETE", "/v1/account/orders", CANCEL, CallKind.CANCEL,
                        params={"clientOrderId": client_id})
        answer = probe.raw(call)
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        if answer.status == 200 and isinstance(result, dict):
            self.cancel_status = str(result.get("status") or "")
            return
        probe.adapter().cancel_order(client_order_id=client_id, market=order.market)

    def observe_closed(self, probe: Probe, order: ExchangeOrder) -> None:
        answer = probe.raw(Call("GET", f"/v1/account/orders/{quote(order.client_order_id)}",
                                STATUS))
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        later = str(result.get("status") or "") if isinstance(result, dict) else ""
        said = f"cancel answered {self.cancel_status or '?'}, a later lookup {later or '?'}"
        if later == "FINISHED":
            probe.variant("wallex-finished", "all-closed", said)
        elif self.cancel_status == "FINISHED" and later == "CANCELED":
            probe.variant("wallex-finished", "cancel-answer", said)
        elif self.cancel_status == "CANCELED" and later == "CANCELED":
            probe.variant("wallex-finished", "never", said)
        else:
            probe.unsettled("wallex-finished", said)


