"""Client order ids valid on every exchange, unique across them, never reused.

The format is the strictest documented rule: Wallex's ``client_id`` takes
A-Z, 0-9 and ``_`` only [doc: developers.wallex.ir spot-create-order];
Nobitex's ``clientOrderId`` at most 32 characters [doc: nobitex/docs-api
market-trade.md, "ثبت سفارش جدید"]; Invex's ``client_order_id`` is any
string [doc: invex README]. So one format serves all three::

    <exchange code><purpose code>_<10 chars of time><16 chars of randomness>

e.g. ``WE_01JBV8Q3KX7M2C9HFD5T1N6ARZ`` (29 characters). The time part
(milliseconds, Crockford base32, as in a ULID) keeps ids of one exchange in
creation order, readable in a log; the 80 random bits make a collision
impossible in practice, across processes, restarts and database resets,
so an old order on an exchange is never mistaken for a new one. The
exchange code keeps ids distinct across exchanges even for the same leg.

Trading calls ``new_client_order_id(exchange_kind=…, purpose=…)``.
"""

from __future__ import annotations

import re
import secrets
import time

# Crockford's base32: digits and upper-case letters without I, L, O, U.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EXCHANGE_CODES = {"nobitex": "N", "wallex": "W", "invex": "I"}
# What the order is for: an arbitrage leg, an unwind, the conformance check's
# test order, an operator's manual order, an order found on the exchange and
# imported (its own client id, if any, is kept beside ours).
PURPOSE_CODES = {"entry": "E", "unwind": "U", "test": "T", "manual": "M", "external": "X"}
MAX_LENGTH = 32
# The strict rule every id this module makes satisfies.
STRICT_RULE = re.compile(r"^[A-Z0-9_]{1,32}$")


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_client_order_id(*, exchange_kind: str, purpose: str, now_ms: int | None = None) -> str:
    """A fresh client order id for an order of ``purpose`` on ``exchange_kind``.

    Raises ``ValueError`` for an exchange or purpose this module does not
    know: an id must say where and why it was made.
    """
    try:
        exchange_code = EXCHANGE_CODES[exchange_kind]
    except KeyError:
        raise ValueError(f"unknown exchange kind {exchange_kind!r} "
                         f"(known: {', '.join(EXCHANGE_CODES)})") from None
    try:
        purpose_code = PURPOSE_CODES[purpose]
    except KeyError:
        raise ValueError(f"unknown order purpose {purpose!r} "
                         f"(known: {', '.join(PURPOSE_CODES)})") from None
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    stamp = _base32(millis % 32**10, 10)
    randomness = _base32(secrets.randbits(80), 16)
    client_id = f"{exchange_code}{purpose_code}_{stamp}{randomness}"
    assert len(client_id) <= MAX_LENGTH and STRICT_RULE.match(client_id)
    return client_id


def is_strictly_valid(client_order_id: str) -> bool:
    """Does this id satisfy the strictest documented rule (Wallex's)?"""
    return bool(STRICT_RULE.match(client_order_id or ""))
