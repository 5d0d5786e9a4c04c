"""The shape of the JSON settings an operator edits: one schema each, checked
on the model (the admin's form shows the error under the field), by
``setup``, and again by whoever reads a row written before the check
existed (detection skips what it cannot read and says why).

Plain Python: the shapes are two (a map of asset to amount, a map of names
to choices), and the messages must name the asset and say what is wrong,
which a generic JSON-schema error ("'0,05' does not match '^…$'") does not.

* an **asset** is what the markets spell: upper-case letters and digits,
  at most 16 (``Market.base``, ``Market.quote``);
* an **amount** is a Decimal written as a JSON string of digits with an
  optional decimal point: no comma, sign, exponent, space, ``NaN`` or
  ``Infinity``; a JSON number is refused (it is a binary float once parsed;
  money travels as strings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

ASSET_RE = re.compile(r"[A-Z0-9]{1,16}")
AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


class SettingError(ValueError):
    """A stored JSON setting that does not have its schema's shape."""

    def __init__(self, setting: str, message: str, *, asset: str | None = None) -> None:
        self.setting, self.asset, self.message = setting, asset, message
        super().__init__(f"{setting}: {message}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}…"


def amount_parse(value: Any, *, setting: str, asset: str, positive: bool = False) -> Decimal:
    """One amount of an asset map, or ``SettingError`` saying what is wrong."""
    if not isinstance(value, str):
        kind = "a number" if isinstance(value, int | float) else type(value).__name__
        raise SettingError(setting, f'{asset}: write the amount as a string, e.g. "0.05" '
                                    f"(got {_shown(value)}, {kind})", asset=asset)
    if "," in value:
        raise SettingError(setting, f"{asset}: {_shown(value)} has a comma; write the decimal "
                                    'point as "." and no thousands separator, e.g. "0.05"',
                           asset=asset)
    if not AMOUNT_RE.fullmatch(value):
        raise SettingError(setting, f"{asset}: {_shown(value)} is not a non-negative decimal "
                                    'such as "0.05" (digits and one point only)', asset=asset)
    try:
        amount = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise SettingError(setting, f"{asset}: {_shown(value)} is not a decimal",
                           asset=asset) from None
    if positive and amount <= 0:
        raise SettingError(setting, f"{asset}: must be above zero (got {value})", asset=asset)
    return amount


@dataclass(frozen=True)
class AssetAmounts:
    """``{"BTC": "0.05", …}``: an amount per asset."""

    setting: str
    positive: bool = False  # False: zero is allowed

    def _entries(self, value: Any) -> Mapping[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            kind = {list: "a list", str: "a string"}.get(type(value), type(value).__name__)
            raise SettingError(self.setting, 'must be a JSON object of asset to amount, '
                                             f'e.g. {{"BTC": "0.05"}} (got {kind})')
        return value

    def errors(self, value: Any) -> list[str]:
        """Every problem, one line each (empty: valid)."""
        try:
            entries = self._entries(value)
        except SettingError as exc:
            return [exc.message]
        problems = []
        for asset, amount in entries.items():
            if not isinstance(asset, str) or not ASSET_RE.fullmatch(asset):
                problems.append(f"{_shown(asset)} is not an asset name: upper-case letters and "
                                "digits as the markets spell it (BTC, USDT, IRR)")
                continue
            try:
                amount_parse(amount, setting=self.setting, asset=asset, positive=self.positive)
            except SettingError as exc:
                problems.append(exc.message)
        return problems

    def unreadable(self, value: Any) -> list[str] | None:
        """The assets whose entry is malformed; None when the whole value is
        not a map (no asset can be read)."""
        try:
            entries = self._entries(value)
        except SettingError:
            return None
        return sorted(str(asset) for asset, amount in entries.items()
                      if self.errors({asset: amount}))

    def amount(self, value: Any, asset: str) -> Decimal | None:
        """The amount set for ``asset`` (None: none set), read from a stored
        value; ``SettingError`` if the map or this asset's entry is malformed
        (another asset's bad entry does not stop this one)."""
        entries = self._entries(value)
        if asset not in entries or entries[asset] in (None, ""):
            return None
        return amount_parse(entries[asset], setting=self.setting, asset=asset,
                            positive=self.positive)


# Zero is a limit too: no new exposure in that asset.
MAX_EXPOSURE = AssetAmounts("max_exposure")
LEDGER_TOLERANCE_ABS = AssetAmounts("ledger_tolerance_abs")


def _raise(problems: list[str]) -> None:
    # Not code "invalid": a ModelForm replaces a model error's message with its
    # form field's message of the same code ("Enter a valid JSON.").
    if problems:
        raise ValidationError([ValidationError(p, code="setting_shape") for p in problems])


# Field validators (module-level functions: migrations refer to them by name).
def validate_max_exposure(value: Any) -> None:
    _raise(MAX_EXPOSURE.errors(value))


def validate_ledger_tolerance_abs(value: Any) -> None:
    _raise(LEDGER_TOLERANCE_ABS.errors(value))
