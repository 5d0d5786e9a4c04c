"""End to end on streamed books: a real worker and a real ``stream_books`` process,
no beat and no poller. A spread that appears in a push is traded once, from the
pushed book."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.processes import ROOT, celery_worker, process_env
from tests.trading.streaming_helpers import eventually
from tests.trading.test_streaming import streaming, trading_sandbox  # noqa: F401 - fixtures
from trading.models import Opportunity, RiskSettings
from trading.services.books import STREAM, books_latest
from trading.services.polling import balances_refresh
from trading.services.sync import orders_sync

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXECUTED = (Opportunity.Status.DONE, Opportunity.Status.PARTIAL, Opportunity.Status.UNWOUND)


def test_a_spread_in_a_push_is_traded_once_from_the_pushed_book(streaming, tmp_path):  # noqa: F811
    risk = RiskSettings.load()
    risk.max_book_age_ms = 20_000  # nothing polls here: the quiet books age
    risk.save()
    balances_refresh()
    with celery_worker(name="e2e-stream", concurrency=2,
                       log_path=tmp_path / "worker.log") as worker:
        log = open(tmp_path / "stream.log", "w")  # noqa: SIM115
        streamer = subprocess.Popen(
            [sys.executable, "manage.py", "stream_books", "--lease-ttl", "1.5"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=process_env(CELERY_QUEUE=worker.queue,
                            NOBITEX_WS_URL=streaming.stream_url("nobitex"),
                            WALLEX_WS_URL=streaming.stream_url("wallex")))
        try:
            # Given every streamed book in the store and no spread anywhere
            eventually(lambda: sum(c.source == STREAM for c in books_latest().values()) == 6,
                       timeout=20, what="the streamed books")
            time.sleep(1.0)  # the snapshots' detection run has found nothing
            assert not Opportunity.objects.exists()

            # When Wallex's bids jump 1.5% above Nobitex's asks (toman on the wire)
            changed_at = datetime.now(tz=UTC)
            streaming.set_book("wallex", "BTCTMN", asks=[["10200000000", "1"]],
                               bids=[["10155000000", "0.01"]])

            # Then that push is traded, once, on both legs
            def executed():
                orders_sync()
                return Opportunity.objects.filter(status__in=EXECUTED).first()

            opportunity = eventually(executed, timeout=30, what="the spread traded")
            time.sleep(1.0)
            assert Opportunity.objects.count() == 1
            assert opportunity.orders.filter(purpose="entry").count() == 2
            assert (opportunity.buy_exchange.name, opportunity.sell_exchange.name) == (
                "nobitex", "wallex")
            # from the book the push brought: received after the change, by the stream
            sell_fetched = datetime.fromisoformat(opportunity.details["books_fetched_at"]["sell"])
            assert sell_fetched >= changed_at
            assert opportunity.sell_book_age_ms < risk.max_book_age_ms
            # at limits beyond the walked levels by the default buffer (10 bps; the
            # fees, 0.25 % and 0.4 %, leave room for about 42): buy 100,040,000,000
            # × 1.001 = 100,140,040,000 rial; sell 101,550,000,000 × 0.999 =
            # 101,448,450,000 rial (10,144,845,000 toman on Wallex's wire)
            assert opportunity.details["slippage"]["binding"] == "configured"
            buy, sell = opportunity.orders.filter(purpose="entry").order_by("side")
            assert (buy.price, sell.price) == (Decimal("100140040000"),
                                               Decimal("101448450000"))
            received = {o["client_order_id"]: o["price"]
                        for ex in ("nobitex", "wallex")
                        for o in streaming.state()["exchanges"][ex]["orders"]}
            assert Decimal(received[buy.client_order_id]) == Decimal("100140040000")
            assert Decimal(received[sell.client_order_id]) == Decimal("10144845000")
            # and filled at the book's prices
            assert (buy.average_price, sell.average_price) == (Decimal("100040000000"),
                                                               Decimal("101550000000"))
        finally:
            streamer.send_signal(signal.SIGTERM)
            try:
                streamer.wait(15)
            except subprocess.TimeoutExpired:
                streamer.kill()
            log.close()
    print(f"\nbook age at decision: sell {opportunity.sell_book_age_ms} ms "
          f"(pushed), buy {opportunity.buy_book_age_ms} ms (quiet since the snapshot)")
