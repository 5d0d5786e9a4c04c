"""A small, hand-computed trading history for the report tests.

Trading days are in Asia/Tehran (UTC+03:30). ``NOW`` is 2025-03-10 12:00
Tehran; the period under test is 2025-03-08 … 2025-03-10.

- O1 BTC-IRR nobitex→wallex, done, closed 03-09 10:00:
  buy 0.5 @ 6,000,000,000 fee 0.001 BTC (= 6,000,000 IRR at the fill price),
  sell 0.5 @ 6,040,000,000 fee 6,040,000 IRR → P&L 7,960,000
- O5 BTC-USDT nobitex→wallex, done, closed 03-09 15:00:
  buy 0.1 @ 95,000 fee 0.0002 BTC (= 19 USDT), sell 0.1 @ 95,500 fee 9.55 → 21.45
- O2 BTC-IRR wallex→nobitex, done, fills 03-10 00:05 and closed 00:10 Tehran,
  which is still 03-09 in UTC: buy 0.25 @ 6,000,000,000 fee 0.0005 BTC
  (3,000,000), sell 0.25 @ 5,990,000,000 fee 2,995,000 → −8,495,000
- O3 BTC-IRR nobitex→wallex, partly filled and unwound, closed 03-10 09:00:
  buy 0.5 @ 6,000,000,000 fee 0.001 BTC (6,000,000), sell 0.2 of 0.5 @
  6,050,000,000 fee 2,420,000, unwind sell 0.3 on nobitex @ 5,980,000,000
  fee 3,588,000 → −8,008,000
- O4 BTC-IRR nobitex→wallex, failed (no fill), closed 03-10 10:00 → 0
- O6 USDT-IRR wallex→nobitex, done, closed 03-10 11:00: buy 100 @ 900,000
  fee 0.2 USDT (180,000), sell 100 @ 905,000 fee 181,000 → 139,000
- O7 BTC-IRR, closed 03-07 23:59 Tehran (one minute before the period):
  buy 0.01 @ 6,000,000,000, sell 0.01 @ 6,100,000,000, no fees → 1,000,000
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User

from tests.factories import make_exchange, make_market, make_opportunity, make_order, make_trade
from trading.models import DailyRiskSnapshot, Opportunity
from trading.services.snapshots import day_figures

TEHRAN = ZoneInfo("Asia/Tehran")
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=TEHRAN)
D = Decimal


def tehran(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=TEHRAN)


def _opportunity(market, buy, sell, status, closed_at, legs):
    """``legs``: (exchange, side, purpose, ordered qty, fills [(qty, price, fee, fee asset)])."""
    quantity = legs[0][3]
    opp = make_opportunity(market=market, buy=buy, sell=sell, quantity=quantity,
                           buy_price=D("1"), sell_price=D("1"), status=status,
                           closed_at=closed_at)
    for exchange, side, purpose, ordered, fills in legs:
        filled = sum((f[0] for f in fills), D("0"))
        order = make_order(exchange=exchange, market=market, opportunity=opp, side=side,
                           purpose=purpose, quantity=ordered, filled_quantity=filled,
                           status="filled" if filled == ordered else "cancelled")
        for qty, price, fee, fee_asset in fills:
            make_trade(order=order, side=side, quantity=qty, price=price,
                       quote_amount=qty * price, fee=fee, fee_asset=fee_asset,
                       executed_at=closed_at - timedelta(minutes=5))
    from trading.services.settlement import realized_pnl

    Opportunity.objects.filter(pk=opp.pk).update(realized_pnl=realized_pnl(opp))
    opp.refresh_from_db()
    return opp


@pytest.fixture
def tehran_tz(settings):
    settings.TRADING_DAY_TZ = "Asia/Tehran"


@pytest.fixture
def history(db, tehran_tz):
    nobitex, wallex = make_exchange("nobitex"), make_exchange("wallex")
    btc_irr, usdt_irr = make_market("BTC", "IRR"), make_market("USDT", "IRR")
    btc_usdt = make_market("BTC", "USDT")
    opps = {
        "O1": _opportunity(btc_irr, nobitex, wallex, "done", tehran(9, 10), [
            (nobitex, "buy", "entry", D("0.5"), [(D("0.5"), D("6000000000"), D("0.001"), "BTC")]),
            (wallex, "sell", "entry", D("0.5"),
             [(D("0.5"), D("6040000000"), D("6040000"), "IRR")]),
        ]),
        "O5": _opportunity(btc_usdt, nobitex, wallex, "done", tehran(9, 15), [
            (nobitex, "buy", "entry", D("0.1"), [(D("0.1"), D("95000"), D("0.0002"), "BTC")]),
            (wallex, "sell", "entry", D("0.1"), [(D("0.1"), D("95500"), D("9.55"), "USDT")]),
        ]),
        "O2": _opportunity(btc_irr, wallex, nobitex, "done", tehran(10, 0, 10), [
            (wallex, "buy", "entry", D("0.25"),
             [(D("0.25"), D("6000000000"), D("0.0005"), "BTC")]),
            (nobitex, "sell", "entry", D("0.25"),
             [(D("0.25"), D("5990000000"), D("2995000"), "IRR")]),
        ]),
        "O3": _opportunity(btc_irr, nobitex, wallex, "unwound", tehran(10, 9), [
            (nobitex, "buy", "entry", D("0.5"), [(D("0.5"), D("6000000000"), D("0.001"), "BTC")]),
            (wallex, "sell", "entry", D("0.5"),
             [(D("0.2"), D("6050000000"), D("2420000"), "IRR")]),
            (nobitex, "sell", "unwind", D("0.3"),
             [(D("0.3"), D("5980000000"), D("3588000"), "IRR")]),
        ]),
        "O4": _opportunity(btc_irr, nobitex, wallex, "failed", tehran(10, 10), [
            (nobitex, "buy", "entry", D("0.5"), []),
            (wallex, "sell", "entry", D("0.5"), []),
        ]),
        "O6": _opportunity(usdt_irr, wallex, nobitex, "done", tehran(10, 11), [
            (wallex, "buy", "entry", D("100"), [(D("100"), D("900000"), D("0.2"), "USDT")]),
            (nobitex, "sell", "entry", D("100"), [(D("100"), D("905000"), D("181000"), "IRR")]),
        ]),
        "O7": _opportunity(btc_irr, nobitex, wallex, "done", tehran(7, 23, 59) + timedelta(
            minutes=5), [
            (nobitex, "buy", "entry", D("0.01"), [(D("0.01"), D("6000000000"), D("0"), "")]),
            (wallex, "sell", "entry", D("0.01"), [(D("0.01"), D("6100000000"), D("0"), "")]),
        ]),
    }
    # O7 closes at 03-07 23:59 Tehran (its fills five minutes earlier).
    Opportunity.objects.filter(pk=opps["O7"].pk).update(closed_at=tehran(7, 23, 59))
    return opps


@pytest.fixture
def closed_snapshots(history):
    """Closed days have their snapshot, as the beat leaves them."""
    from datetime import date

    for day in (date(2025, 3, 7), date(2025, 3, 8), date(2025, 3, 9)):
        DailyRiskSnapshot.objects.create(day=day, closed=True, **day_figures(day))


@pytest.fixture
def closed_rollups(closed_snapshots):
    """Closed days have their snapshot and their report rollup, as the beat
    leaves them since rollups exist."""
    from datetime import date

    from trading.reports.rollups import report_rollup_write

    for day in (date(2025, 3, 7), date(2025, 3, 8), date(2025, 3, 9)):
        report_rollup_write(day=day)


@pytest.fixture
def viewer(db):
    user = User.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_trade",
                                                     content_type__app_label="trading"))
    return user
