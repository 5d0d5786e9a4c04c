"""Admin forms whose decimal inputs an operator can read: a stored
``50000000.000000000000000000`` is offered as ``50000000`` (the value is the
same Decimal; only the text in the input box changes)."""

from __future__ import annotations

from decimal import Decimal

from django import forms


def plain_decimal(value: Decimal) -> str:
    """Plain digits, no exponent, no trailing zeros: what an operator types."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class PlainDecimalsForm(forms.ModelForm):
    """A ModelForm whose decimal fields start from their value without
    trailing zeros (``form = PlainDecimalsForm`` on a ModelAdmin or inline)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            value = self.initial.get(name)
            if isinstance(field, forms.DecimalField) and isinstance(value, Decimal):
                self.initial[name] = plain_decimal(value)
