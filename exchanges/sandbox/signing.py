"""Invex request signatures: RSA-PSS (SHA-256, MGF1-SHA256, maximum salt), hex encoded.

The signed message is the canonical JSON of the request's parameters without
``signature`` and including ``expire_at``::

    json.dumps(params, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()

where ``params`` is the JSON body object (POST) or the query parameters as strings
(GET/DELETE; first value of each). Send every value as a string to sign what you send.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

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


def canonical_message(params: dict) -> bytes:
    body = {k: v for k, v in params.items() if k != "signature"}
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)


def sign(params: dict, private_key_hex: str) -> str:
    """Hex signature of ``params`` (what a client does; tests and demos use it)."""
    key = load_der_private_key(bytes.fromhex(private_key_hex), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(canonical_message(params), _pss(), hashes.SHA256()).hex()


def verify(params: dict, signature_hex: str, public_key_hex: str) -> bool:
    try:
        key = load_der_public_key(bytes.fromhex(public_key_hex))
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, canonical_message(params), _pss(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def expire_at(seconds: int = 60, now: datetime | None = None) -> str:
    """``expire_at`` as Invex wants it: UTC, ``%Y-%m-%d %H:%M:%S``."""
    return ((now or datetime.now(UTC)) + timedelta(seconds=seconds)).strftime(EXPIRE_FORMAT)


def parse_expire_at(value: str) -> datetime | None:
    """Naive ``%Y-%m-%d %H:%M:%S`` is UTC; ISO 8601 with an offset is honoured."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def new_key_pair() -> tuple[str, str]:
    """(private key hex DER PKCS8, public key hex DER SubjectPublicKeyInfo), RSA 2048."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()).hex()
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()
    return private, public


def public_key_of(private_key_hex: str) -> str:
    key = load_der_private_key(bytes.fromhex(private_key_hex), password=None)
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()
