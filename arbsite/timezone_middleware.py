"""Pages in trading-day time: every request renders its moments in
``TRADING_DAY_TZ`` (Asia/Tehran), the zone the trading day, the daily limits
and the reports are cut in, so the admin's "Today", its date drill-down and
every time it shows agree with them. Storage stays UTC."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from arbsite.formatting import trading_tz


class TradingTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.activate(trading_tz())
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
