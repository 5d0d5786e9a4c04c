"""Wire variants: the points the exchanges' docs leave open, as named options.

Each exchange row may say which reading of its docs the exchange speaks
(``Exchange.wire_variants``, e.g. ``{"invex-signing": "compact"}``); the
registry hands them to the adapter as ``AdapterConfig.variants``. An empty
mapping means the defaults: the first value of each name, the most literal
reading of the docs. The names are the ones the sandbox offers as switches
(``run_sandbox --variant NAME=VALUE``), so a test can run an adapter against
the sandbox in every variant, and the live conformance check can store what
it observed.

Where an adapter can survive every value without being told (reading both
list shapes, both number types), it does, and the setting is accepted and
ignored (``IGNORED``): it records what the exchange was seen to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    values: tuple[str, ...]  # the first is the default
    exchange: str  # the adapter kind it belongs to
    doc: str
    used: bool = True  # False: the adapter reads every value without being told

    @property
    def default(self) -> str:
        return self.values[0]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("invex-signing", ("official", "compact"), "invex",
            "bytes signed and sent: the official examples' json.dumps defaults (', ' and "
            "': ', insertion order) or compact JSON with sorted keys"),
    Variant("invex-expire-tz", ("tehran", "utc"), "invex",
            "time zone of the naive expire_at: Asia/Tehran as the examples' datetime.now() "
            "written in Iran, or UTC"),
    Variant("invex-order-fields", ("readme", "swagger"), "invex",
            "create-order field names: the README's symbol/side/type/client_order_id or the "
            "swagger file's market_type/order_side_type/order_class_type/"
            "customer_external_trace_id"),
    Variant("invex-symbol", ("string", "object"), "invex",
            "symbol in answers: a string or {code, base_currency_type, quote_currency_type}",
            used=False),
    Variant("wallex-client-id", ("strict", "lax"), "wallex",
            "client_id rule: A-Z, 0-9 and _ only (new docs) or anything (old edition); the "
            "project's ids are valid under both", used=False),
    Variant("wallex-open-orders", ("map", "list"), "wallex",
            "open orders result: a map of lists (new docs) or result.orders (old edition)",
            used=False),
    Variant("wallex-cancel", ("query", "path"), "wallex",
            "cancel form tried first: DELETE /v1/account/orders?clientOrderId=… or "
            "DELETE /v1/account/orders/{client_id}; the other is tried when the route is "
            "not there"),
    Variant("wallex-numbers", ("string", "number"), "wallex",
            "numbers in answers as JSON strings or JSON numbers", used=False),
    Variant("wallex-partial-status", ("new", "partially-filled"), "wallex",
            "status of an open, partly filled order: NEW (the documented statuses) or "
            "PARTIALLY_FILLED (go-wallex's example); executedQty tells either way", used=False),
    Variant("wallex-finished", ("cancel-answer", "all-closed", "never"), "wallex",
            "where FINISHED appears (the cancel answer, every closed order, nowhere); read "
            "by executedQty either way", used=False),
    Variant("wallex-balance-value", ("total", "available"), "wallex",
            "whether a balance's value includes locked (undocumented): the total, or what is "
            "available (total = value + locked)"),
    Variant("nobitex-not-found", ("failed", "failed-404", "drf", "empty"), "nobitex",
            "the answer to a status lookup of an unknown client order id: "
            "{'status':'failed','code':'NotFound'…} with HTTP 200 or 404, or a DRF 404 "
            "{'detail':'Not found.'} (all three always recognised), or an empty answer "
            "{'status':'ok','order':null} (recognised only when set)"),
    Variant("nobitex-total-price", ("matched", "order"), "nobitex",
            "totalPrice in order answers: the executed value (2022-2025 examples), whose "
            "ratio to matchedAmount is the average price, or the order's value amount x price "
            "(2018 examples), from which no average can be read"),
    Variant("nobitex-duplicate-order", ("trade-fields", "all-fields"), "nobitex",
            "what makes an order identical for DuplicateOrder; orders go with pro=yes, which "
            "turns the check off", used=False),
    Variant("nobitex-decimals", ("plain", "padded"), "nobitex",
            "decimals normalised or padded to ten places ('0E-10'); read either way",
            used=False),
    Variant("nobitex-details-client-id", ("no", "yes"), "nobitex",
            "whether order-list rows (details=2) carry clientOrderId; read either way",
            used=False),
    Variant("nobitex-page-size", ("100", "1000"), "nobitex",
            "pageSize of order lists: 1-100 per the general notes, up to 1000 per the "
            "list's own note"),
)}

IGNORED = frozenset(name for name, v in VARIANTS.items() if not v.used)


def variants_for(exchange_kind: str) -> dict[str, Variant]:
    return {name: v for name, v in VARIANTS.items() if v.exchange == exchange_kind}


def validate_variants(exchange_kind: str, values: Mapping[str, object] | None) -> dict[str, str]:
    """``values`` checked against the known variants of ``exchange_kind``.

    Raises ``ValueError`` naming the bad entry: a wrong reading of an
    exchange's wire format must stop that exchange, not be guessed around.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(f"wire variants must be an object of NAME: VALUE, got {values!r}")
    known = variants_for(exchange_kind)
    out: dict[str, str] = {}
    for name, value in values.items():
        variant = known.get(str(name))
        if variant is None:
            listed = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown wire variant {name!r} for {exchange_kind} "
                             f"(known: {listed})")
        if str(value) not in variant.values:
            raise ValueError(f"wire variant {name}={value!r} is not one of "
                             f"{', '.join(variant.values)}")
        out[variant.name] = str(value)
    return out


def variant_value(exchange_kind: str, values: Mapping[str, str], name: str) -> str:
    """The configured value of ``name``, or its default."""
    variant = VARIANTS[name]
    if variant.exchange != exchange_kind:
        raise KeyError(f"{name} is not a {exchange_kind} variant")
    return values.get(name, variant.default)
