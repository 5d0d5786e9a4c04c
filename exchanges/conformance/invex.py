"""Invex's open points (docs/EXCHANGES.md, "What only a live check can settle").

- ``invex-signing`` and ``invex-expire-tz``: a read-only signed call (the
  status of a random client order id) in the configured reading first, then
  the others until one is accepted. ``expire_at`` is checked before the
  signature in the answers seen so far: a naive Tehran time read as UTC is
  3.5 hours ahead, a UTC time read as Tehran's 3.5 hours past, so each
  refusal says which half was wrong; at most four calls.
- "an unknown order is 404 Order not found" (the same call, once accepted).
- ``invex-symbol``: ``symbol`` in ``GET /markets`` a string or an object.
- ``invex-order-fields``: the test order in the configured names; refused
  for missing fields (422 ``value_error.missing``), it is sent once more in
  the other set. At most one order is placed.
- The host: the configured base URL answered the documented endpoints.
"""

from __future__ import annotations

import secrets

from exchanges.errors import RejectedError
from exchanges.http import Call, RawAnswer
from exchanges.ratelimit import BOOK, STATUS
from exchanges.types import ExchangeOrder, OrderRequest

from .context import Probe, snippet
from .report import Verdict

ZONES = ("tehran", "utc")
SIGNINGS = ("official", "compact")


def _error_types(answer: RawAnswer) -> list[str]:
    detail = answer.body.get("detail") if isinstance(answer.body, dict) else None
    if not isinstance(detail, list):
        return []
    return [str(item.get("type") or "") for item in detail if isinstance(item, dict)]


class InvexProbes:
    kind = "invex"
    closed_by_client_id = True

    def read_only(self, probe: Probe) -> None:
        probe.guarded("reading the market rules for the symbol's shape", self._symbol)
        probe.guarded("signing a read-only call (an unknown client order id's status)",
                      self._signing)

    def _symbol(self, probe: Probe) -> None:
        answer = probe.raw(Call("GET", "/markets", BOOK))
        rules = answer.body.get("rules") if isinstance(answer.body, dict) else None
        if answer.status != 200 or not isinstance(rules, list) or not rules:
            probe.row("host and rules endpoint", "GET /markets answers {rules: [...]} [doc]",
                      snippet(answer), Verdict.FAIL)
            return
        probe.row("host and rules endpoint", "GET /markets answers {rules: [...]} [doc]",
                  f"{len(rules)} rules from {probe.config.base_url}", Verdict.PASS)
        first = rules[0].get("symbol") if isinstance(rules[0], dict) else None
        if isinstance(first, dict):
            probe.variant("invex-symbol", "object", f"symbol {first}")
        elif isinstance(first, str):
            probe.variant("invex-symbol", "string", f"symbol {first!r}")
        else:
            probe.row("invex-symbol", "a string or {code, …}", snippet(answer), Verdict.FAIL)

    def _signed_status(self, probe: Probe, signing: str, zone: str) -> RawAnswer:
        adapter = probe.adapter(**{"invex-signing": signing, "invex-expire-tz": zone})
        client_id = f"IT_PROBE_{secrets.token_hex(8).upper()}"
        call = adapter.signed(Call("GET", "/order", STATUS,
                                   params={"client_order_id": client_id}, lookup=True))
        return adapter.send_raw(call)

    def _signing(self, probe: Probe) -> None:
        zone = probe.configured("invex-expire-tz")
        signing = probe.configured("invex-signing")
        tried: list[str] = []
        zone_known = signing_known = False
        for _ in range(4):
            answer = self._signed_status(probe, signing, zone)
            kinds = _error_types(answer)
            tried.append(f"{signing}/{zone}: {snippet(answer, 90)}")
            if "value_error.expired" in kinds and not zone_known:
                zone = "utc" if zone == "tehran" else "tehran"  # sent behind the server's clock
                zone_known = True
                continue
            if "value_error.expire_at" in kinds and not zone_known:
                zone = "utc" if zone == "tehran" else "tehran"  # sent ahead of it
                zone_known = True
                continue
            if "value_error.signature" in kinds and not signing_known:
                signing = "compact" if signing == "official" else "official"
                signing_known = True
                continue
            break
        if answer.status in (401, 403):
            probe.row("credentials", "the API key is accepted on a signed call",
                      snippet(answer), Verdict.FAIL)
            return
        accepted = not any(kind.startswith("value_error.") for kind in kinds) \
            and answer.status != 422
        if not accepted:
            probe.row("invex-signing", "a signed call is accepted in one of the readings",
                      "; ".join(tried), Verdict.FAIL)
            return
        how = " → ".join(tried)
        probe.variant("invex-signing", signing, f"accepted signing {signing} ({how})")
        probe.variant("invex-expire-tz", zone, f"expire_at read as {zone}")
        not_found = answer.status == 404 and isinstance(answer.body, dict) \
            and "order" in str(answer.body.get("detail", "")).lower()
        probe.row("unknown client order id", "HTTP 404 naming the order (the adapter's "
                  "not-found reading)", snippet(answer), Verdict.PASS if not_found
                  else Verdict.FAIL)

    # -- the test order ----------------------------------------------------------------

    def place(self, probe: Probe, request: OrderRequest, note_sent) -> ExchangeOrder:
        fields = probe.configured("invex-order-fields")
        if "invex-order-fields" in probe.report.observed:
            fields = probe.report.observed["invex-order-fields"]
        note_sent(request.client_order_id)
        try:
            order = probe.adapter(**{"invex-order-fields": fields}).place_order(request)
        except RejectedError as exc:
            if exc.code != "value_error.missing":
                raise
            other = "swagger" if fields == "readme" else "readme"
            refusal = str(exc)
            order = probe.adapter(**{"invex-order-fields": other}).place_order(request)
            probe.variant("invex-order-fields", other, f"the {fields} names were refused "
                          f"({refusal[:80]}); the {other} names accepted")
            return order
        probe.variant("invex-order-fields", fields, f"the {fields} names accepted")
        return order

    def observe_open(self, probe: Probe, order: ExchangeOrder) -> None:
        return None

    def observe_closed(self, probe: Probe, order: ExchangeOrder) -> None:
        return None
