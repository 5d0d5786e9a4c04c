"""Model fields shared by both apps: one place for money precision and for
encrypted secrets (``arbsite.crypto``)."""

from __future__ import annotations

from typing import Any

from django.db import models

from arbsite.crypto import decrypt, encrypt

# Wide enough for BTC priced in rial (above 10^12) and for 18-decimal crypto
# amounts: 18 digits either side of the point.
MONEY_MAX_DIGITS = 36
MONEY_DECIMAL_PLACES = 18


class MoneyField(models.DecimalField):
    """A price, amount, fee or value. Always paired with an asset column."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, ...]:
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, kwargs


class EncryptedTextField(models.TextField):
    """Text stored encrypted with Fernet (FIELD_ENCRYPTION_KEY).

    The database holds only the token; Python code sees the plain value.
    Blank stays blank so "not configured" is visible without decrypting.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
