"""Invex request signatures: RSA-PSS (SHA-256, MGF1-SHA256, maximum salt), hex encoded.

The official examples (``invex-cryptocurrency-exchange/Invex-API-docs`` and
``rabbitix/invex-trading-api-docs``: ``examples/create_order.py``, ``examples/market_rules.py``)
build ``params`` (``expire_at`` included), sign ``json.dumps(params)`` with Python's
defaults, then add ``signature`` and send. So the signed message is, by variant
``invex-signing``:

- ``official`` (default): ``json.dumps(params)`` -- ``", "``/``": "`` separators, keys in
  the order sent, non-ASCII escaped;
- ``compact``: ``json.dumps(params, separators=(",", ":"), sort_keys=True)``;

where ``params`` is every parameter sent except ``signature``: the JSON body object of a
POST (as ``json.loads`` reads it), or the query parameters of a GET/DELETE as strings, in
the order they arrive.

``expire_at`` is ``%Y-%m-%d %H:%M:%S`` in the examples, from ``datetime.now()``: naive local
time, written in Iran. Variant ``invex-expire-tz`` says how the server reads a naive value:
``tehran`` (default) or ``utc``. A value with an offset (ISO 8601) means what it says.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
    load_der_public_key,
)

EXPIRE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_FUTURE = timedelta(hours=1)
TEHRAN = ZoneInfo("Asia/Tehran")
ZONES: dict[str, tzinfo] = {"tehran": TEHRAN, "utc": UTC}
FORMATS = ("official", "compact")


def message(params: dict, fmt: str = "official") -> bytes:
    """The bytes that are signed for ``params`` (``signature`` left out)."""
    body = {k: v for k, v in params.items() if k != "signature"}
    if fmt == "official":
        return json.dumps(body).encode()
    if fmt == "compact":
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    raise ValueError(f"unknown signing format {fmt!r}; choose from {FORMATS}")


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)


def sign(params: dict, private_key_hex: str, fmt: str = "official") -> str:
    """Hex signature of ``params`` as a client makes it (tests and demos use it)."""
    key = load_der_private_key(bytes.fromhex(private_key_hex), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(message(params, fmt), _pss(), hashes.SHA256()).hex()


def verify(params: dict, signature_hex: str, public_key_hex: str,
           fmt: str = "official") -> bool:
    try:
        key = load_der_public_key(bytes.fromhex(public_key_hex))
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, message(params, fmt), _pss(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def expire_at(seconds: int = 60, now: datetime | None = None, zone: str = "tehran") -> str:
    """``expire_at`` as the official examples write it: local time in ``zone``, naive."""
    moment = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    return moment.astimezone(ZONES[zone]).strftime(EXPIRE_FORMAT)


def parse_time(value: str, zone: str = "tehran") -> datetime | None:
    """A naive ``%Y-%m-%d %H:%M:%S`` (or ISO) time read in ``zone``; an offset is honoured."""
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZONES[zone])


def new_key_pair() -> tuple[str, str]:
    """(private key hex DER PKCS8, public key hex DER SubjectPublicKeyInfo), RSA 2048."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()).hex()
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()
    return private, public


def public_key_of(private_key_hex: str) -> str:
    key = load_der_private_key(bytes.fromhex(private_key_hex), password=None)
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()
