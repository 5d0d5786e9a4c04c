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


def _plain_preparer(prepare):
    def prepare_value(value):
        return plain_decimal(value) if isinstance(value, Decimal) else prepare(value)

    return prepare_value


class PlainDecimalsForm(forms.ModelForm):
    """A ModelForm whose decimal inputs show their value without trailing
    zeros (``form = PlainDecimalsForm`` on a ModelAdmin or inline). Only the
    rendering changes: the initial value stays the stored Decimal, so an
    untouched field is not "changed" in the audit log or the history."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.DecimalField):
                field.prepare_value = _plain_preparer(field.prepare_value)
