"""How a human reads a figure or a moment: the one formatting module.

Money stays ``Decimal`` everywhere; it becomes text only here, at the edge
(admin displays, the control panel, the reports, the management commands'
output, the texts services write for operators). Template filters with the
same names are in ``arbsite/templatetags/arbsite_format.py``.

- Thousands separators on every number a human reads; decimals as the
  market's amount step (quantities) or price tick (prices) calls for, else a
  per-asset default (``ASSET_PLACES``): ``97,293,509,161 rial``, never
  ``97293509161.200000000000000000``. Display rounding is half-even; the
  stored value is never touched.
- The unit on every figure: prices and amounts of IRR are in **rial** (the
  project's unit; toman is only ever an exchange's wire unit, converted at
  the adapter), every other asset by its code (USDT, BTC …).
- Fee *rates* as a percentage (``0.0025`` → ``0.25%``).
- Moments in trading-day time (``TRADING_DAY_TZ``, Asia/Tehran), with
  seconds and the zone's label: ``2026-12-01 12:41:02 Tehran``. Storage
  stays UTC.

This module imports only Django and the standard library (``arbsite`` may
not import the apps), so an exchange's rules are passed in as ``step`` or
``places`` by the caller (``trading.display`` knows the listings).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

# Decimal places shown for an asset when no step or tick applies (P&L,
# fees, balances); anything not listed gets DEFAULT_PLACES.
ASSET_PLACES = {"IRR": 0, "USDT": 4}
DEFAULT_PLACES = 8
# How an asset is named beside a figure. Toman is never shown: prices and
# amounts are in rial inside the project.
UNIT_NAMES = {"IRR": "rial"}
# The text of a missing figure (the admin's own empty value).
EMPTY = "-"

Number = Decimal | int | str | float


def unit(asset: str | None) -> str:
    """The unit shown beside a figure of ``asset``: ``rial`` for IRR, else its code."""
    code = (asset or "").upper()
    return UNIT_NAMES.get(code, code)


def places_of(step: Number | None) -> int:
    """Decimal places a step or tick calls for: 0.000001 → 6, 10 → 0, 0.5 → 1."""
    if step is None:
        return 0
    exponent = _decimal(step).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def asset_places(asset: str | None) -> int:
    return ASSET_PLACES.get((asset or "").upper(), DEFAULT_PLACES)


def _decimal(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    # A float only ever comes from a caller's arithmetic for display (a
    # ratio); read it through its shortest repr, never its binary value.
    return Decimal(str(value))


def number(value: Number | None, places: int | None = None, *, signed: bool = False) -> str:
    """``value`` with thousands separators at ``places`` decimals (all of its
    own significant digits when ``places`` is None); ``signed`` puts a + on
    positive figures (a P&L)."""
    if value is None or value == "":
        return EMPTY
    try:
        amount = _decimal(value)
    except (InvalidOperation, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(amount)
    if places is None:
        amount = amount.normalize()
        places = max(0, -int(amount.as_tuple().exponent))
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0"
    text = f"{rounded:,.{places}f}"
    return f"+{text}" if signed and rounded > 0 else text


def money(value: Number | None, asset: str | None, *, step: Number | None = None,
          places: int | None = None, signed: bool = False, with_unit: bool = True) -> str:
    """A figure of ``asset`` for reading: ``97,293,509,161 rial``, ``0.000995 BTC``.

    Decimals: ``places`` if given, else those of ``step`` (an amount step or a
    price tick), else the asset's default (``ASSET_PLACES``).
    """
    if value is None or value == "":
        return EMPTY
    if places is None:
        places = places_of(step) if step is not None else asset_places(asset)
    text = number(value, places, signed=signed)
    if text.strip("0.,") == "":
        text = "0"  # nothing is nothing: "0 rial", "0 BTC", not "0.00000000 BTC"
    label = unit(asset)
    return f"{text} {label}" if with_unit and label else text


def plain(value: Number | None, asset: str | None, *, places: int | None = None) -> str:
    """A figure rounded as ``money`` rounds it, as plain digits (no separators,
    no unit): for CSV files and machine-read output."""
    if value is None or value == "":
        return ""
    places = asset_places(asset) if places is None else places
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{abs(rounded) if rounded == 0 else rounded:f}"


def percent(value: Number | None, places: int = 2, *, signed: bool = False) -> str:
    """A value already in percent: ``0.46897`` → ``0.47%``."""
    if value is None or value == "":
        return EMPTY
    return f"{number(value, places, signed=signed)}%"


def rate(value: Number | None) -> str:
    """A rate (a fraction) as a percentage with the digits it has:
    ``0.0025`` → ``0.25%``, ``0.00125`` → ``0.125%``, ``0`` → ``0%``."""
    if value is None or value == "":
        return EMPTY
    pct = (_decimal(value) * 100).normalize()
    return f"{number(pct, max(0, -int(pct.as_tuple().exponent)))}%"


def milliseconds(value: Number | None) -> str:
    """A duration in milliseconds: ``120 ms``, ``1,250 ms``."""
    if value is None or value == "":
        return EMPTY
    return f"{number(value, 0)} ms"


def seconds_ago(value: Number | None) -> str:
    """An age in seconds: ``0.4 s ago``, ``12 s ago``, ``3 min 5 s ago``."""
    if value is None or value == "":
        return EMPTY
    age = _decimal(value)
    if age < 10:
        return f"{number(age, 1)} s ago"
    if age < 120:
        return f"{number(age, 0)} s ago"
    minutes, rest = divmod(int(age), 60)
    if minutes < 120:
        return f"{minutes} min {rest} s ago"
    return f"{number(Decimal(minutes) / 60, 1)} h ago"


def trading_tz() -> ZoneInfo:
    """TRADING_DAY_TZ, read at each call (a test or deployment may change it)."""
    return ZoneInfo(settings.TRADING_DAY_TZ)


def zone_label(tz: ZoneInfo | None = None) -> str:
    """The zone's name for a reader: ``Tehran`` for Asia/Tehran, ``UTC`` for UTC."""
    key = (tz or trading_tz()).key
    return key.rsplit("/", 1)[-1].replace("_", " ")


def local(value: datetime) -> datetime:
    """An aware moment in trading-day time (a naive one is taken as UTC)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, ZoneInfo("UTC"))
    return value.astimezone(trading_tz())


def moment(value: datetime | str | None, *, date: bool = True, label: bool = True,
           millis: bool = False) -> str:
    """A moment in trading-day time with seconds and the zone's label:
    ``2026-12-01 12:41:02 Tehran`` (``date=False``: ``12:41:02 Tehran``;
    ``millis``: ``12:41:02.123``). An ISO string (as stored in Redis or JSON)
    is read first; one that does not parse is shown as it is."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    at = local(value)
    text = at.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    if millis:
        text += f".{at.microsecond // 1000:03d}"
    return f"{text} {zone_label()}" if label else text


def moment_utc(value: datetime | str | None) -> str:
    """The same moment in UTC, ISO 8601 (for a tooltip or a log)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if timezone.is_naive(value):
        value = timezone.make_aware(value, ZoneInfo("UTC"))
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")
