"""Report pages: parse the period, call a selector, render. Readers need
``trading.view_trade`` or ``trading.view_opportunity`` (superusers have both);
anonymous visitors are sent to the admin login."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from trading.pnl import QUOTE_ASSETS
from trading.reports import charts, selectors, tables
from trading.reports.exports import csv_response
from trading.reports.periods import PRESETS, Period, PeriodError, period_from_params
from trading.tradingday import trading_tz

READ_PERMISSIONS = ("trading.view_trade", "trading.view_opportunity")


def reports_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required(login_url=reverse_lazy("admin:login"))
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not any(request.user.has_perm(p) for p in READ_PERMISSIONS):
            raise PermissionDenied("reading reports needs trading.view_trade")
        return view(request, *args, **kwargs)

    return wrapper


def _period(request: HttpRequest) -> tuple[Period, str]:
    try:
        return period_from_params(request.GET), ""
    except PeriodError as exc:
        return period_from_params({}), f"{exc}; showing the default period instead."


def _context(request: HttpRequest, period: Period, error: str, active: str, **extra) -> dict:
    return {"period": period, "period_error": error, "presets": PRESETS, "active": active,
            "trading_tz": str(trading_tz()), "query": request.GET.urlencode(), **extra}


@reports_access
def overview(request: HttpRequest) -> HttpResponse:
    period, error = _period(request)
    data = selectors.overview(period, convert=request.GET.get("convert") == "1")
    return render(request, "reports/overview.html", _context(
        request, period, error, "overview", data=data,
        cards=tables.headline_cards(data),
        tables=[tables.with_csv(t, period) for t in (
            tables.summary_table(data.quotes), tables.fees_table(data.fees_by_asset),
            tables.problems_table(data.problems))],
        charts=charts.overview_charts(data.days, data.markets, QUOTE_ASSETS),
    ))


@reports_access
def table(request: HttpRequest, key: str) -> HttpResponse:
    if key not in ("days", "markets", "pairs"):
        raise Http404("no such report")
    period, error = _period(request)
    return render(request, "reports/table.html", _context(
        request, period, error, key,
        table=tables.with_csv(tables.report_table(key, period), period),
    ))


@reports_access
def export_csv(request: HttpRequest, key: str) -> HttpResponse:
    if key not in tables.TABLES:
        raise Http404("no such table")
    period, _ = _period(request)
    return csv_response(tables.report_table(key, period), period)
