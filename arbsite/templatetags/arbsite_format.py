"""Figures and moments for reading in templates: ``{% load arbsite_format %}``.

The filters of ``arbsite.formatting``, under the same names:

    {{ value|money:"IRR" }}        97,293,509,161 rial
    {{ value|money_signed:"IRR" }} +810,256 rial
    {{ value|number:6 }}           0.000995
    {{ rate|rate }}                0.25%
    {{ value|percent }}            0.47%
    {{ when|moment }}              2026-12-01 12:41:02 Tehran
    {{ when|clock }}               12:41:02 Tehran
    {{ seconds|ago }}              0.4 s ago
    {{ when|moment_html }}         <time …> with the UTC moment as its title
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from arbsite import formatting

register = template.Library()


@register.filter
def money(value, asset: str = ""):
    return formatting.money(value, asset)


@register.filter
def money_signed(value, asset: str = ""):
    return formatting.money(value, asset, signed=True)


@register.filter
def number(value, places=None):
    return formatting.number(value, None if places in (None, "") else int(places))


@register.filter
def rate(value):
    return formatting.rate(value)


@register.filter
def percent(value, places=2):
    return formatting.percent(value, int(places))


@register.filter
def moment(value):
    return formatting.moment(value)


@register.filter
def clock(value):
    return formatting.moment(value, date=False)


@register.filter
def ago(value):
    return formatting.seconds_ago(value)


@register.filter
def unit(asset):
    return formatting.unit(asset)


@register.filter
def moment_html(value, kind: str = "full"):
    """A ``<time>`` element: trading-day time shown, the UTC moment as its title."""
    if value in (None, ""):
        return formatting.EMPTY
    shown = formatting.moment(value, date=kind != "clock")
    utc = formatting.moment_utc(value)
    return format_html('<time datetime="{}" title="{}">{}</time>',
                       utc.replace(" UTC", "Z").replace(" ", "T"), utc, shown)


@register.simple_tag
def zone_label():
    return formatting.zone_label()
