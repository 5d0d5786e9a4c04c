"""Orders and opportunities for reading in templates: ``{% load trading_format %}``
(``trading.display`` with each listing's step and tick; ``arbsite_format`` for
plain figures and moments)."""

from __future__ import annotations

from django import template

from trading import display

register = template.Library()

register.filter("order_quantity", display.order_quantity)
register.filter("order_price", display.order_price)
register.filter("order_filled", display.order_filled)
register.filter("opp_quantity", display.opportunity_quantity)
register.filter("opp_route", display.opportunity_route)
register.filter("opp_expected", display.opportunity_expected)
register.filter("opp_realized", display.opportunity_realized)
register.filter("reason", display.reason_readable)
register.filter("rejection_figures", display.rejection_figures)
