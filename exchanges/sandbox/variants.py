"""The points the exchanges' docs leave open, each served in every plausible reading.

``VARIANTS`` maps a name to its allowed values; the first value is the default, the most
literal reading of the docs. WIRE.md says, for each, which doc line leaves it open and
what every value does. Set them with ``run_sandbox --variant NAME=VALUE`` (repeatable),
``SandboxServer(variants={"NAME": "VALUE"})`` or ``POST /_sandbox/variants``; the
adapters read the same names from ``AdapterConfig.variants``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

VARIANTS: dict[str, tuple[str, ...]] = {
    # Nobitex
    "nobitex-not-found": ("failed", "failed-404", "drf", "empty"),
    "nobitex-details-client-id": ("no", "yes"),
    "nobitex-page-size": ("100", "1000"),
    "nobitex-total-price": ("matched", "order"),
    "nobitex-duplicate-order": ("trade-fields", "all-fields"),
    "nobitex-decimals": ("plain", "padded"),
    # Wallex
    "wallex-client-id": ("strict", "lax"),
    "wallex-open-orders": ("map", "list"),
    "wallex-cancel": ("query", "path"),
    "wallex-numbers": ("string", "number"),
    "wallex-partial-status": ("new", "partially-filled"),
    "wallex-finished": ("cancel-answer", "all-closed", "never"),
    "wallex-balance-value": ("total", "available"),
    # Invex
    "invex-signing": ("official", "compact"),
    "invex-expire-tz": ("tehran", "utc"),
    "invex-order-fields": ("readme", "swagger"),
    "invex-symbol": ("string", "object"),
}

DEFAULTS: dict[str, str] = {name: values[0] for name, values in VARIANTS.items()}


def validate(settings: Mapping[str, object]) -> dict[str, str]:
    """``settings`` checked against VARIANTS; ValueError naming the bad name or value."""
    out: dict[str, str] = {}
    for name, value in settings.items():
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
        text = str(value)
        if text not in VARIANTS[name]:
            raise ValueError(f"variant {name} has no value {text!r}; "
                             f"choose from {'|'.join(VARIANTS[name])}")
        out[name] = text
    return out


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["invex-signing=compact", …]`` (the command line's form) -> a validated dict."""
    settings: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"bad variant {item!r}: expected NAME=VALUE")
        settings[name.strip()] = value.strip()
    return validate(settings)


class Variants:
    """The variants in force, changeable while the sandbox serves (thread-safe)."""

    def __init__(self, settings: Mapping[str, object] | None = None) -> None:
        self._lock = threading.Lock()
        self._values = dict(DEFAULTS)
        self.update(settings or {})

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def is_(self, name: str, value: str) -> bool:
        if value not in VARIANTS[name]:
            raise KeyError(f"{name} has no value {value!r}")
        return self._values[name] == value

    def update(self, settings: Mapping[str, object]) -> dict[str, str]:
        checked = validate(settings)
        with self._lock:
            self._values.update(checked)
            return dict(self._values)

    def reset(self) -> None:
        with self._lock:
            self._values = dict(DEFAULTS)

    def as_dict(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)

    def changed(self) -> dict[str, str]:
        """Only the variants that differ from their default."""
        with self._lock:
            return {k: v for k, v in self._values.items() if v != DEFAULTS[k]}
