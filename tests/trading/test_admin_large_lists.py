"""The admin's lists over large tables (issue 10 item 14): no COUNT(*) of the
whole table, pages still reachable, a page served from an index, and the
same number of queries however many rows a page shows."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exchanges.states import OrderState
from tests.factories import make_exchange, make_market, make_opportunity, make_order, make_trade
from trading.models import Order
from trading.services.orders import order_transition

pytestmark = pytest.mark.django_db
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="the planner's estimate and plans are PostgreSQL's")

ROWS = 250
CAP = 50  # raised to 201: above "show all" (200) and a page (100)
COUNT = re.compile(r"\bCOUNT\(", re.IGNORECASE)


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456!")
    client.force_login(user)
    return client


@pytest.fixture
def orders():
    exchange, market = make_exchange("nobitex"), make_market("BTC", "IRR")
    rows = [Order(exchange=exchange, market=market, client_order_id=f"bulk{n:06d}", side="buy",
                  quantity=Decimal("1"), price=Decimal("100"),
                  status=OrderState.OPEN if n % 10 == 0 else OrderState.FILLED)
            for n in range(ROWS)]
    Order.objects.bulk_create(rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what autovacuum keeps up to date
            cursor.execute("ANALYZE trading_order")
    return rows


def _list(client, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:trading_order_changelist"), params)
    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if COUNT.search(q["sql"])]
    return response, counts


def test_the_order_list_never_counts_the_whole_table(admin_client, orders, settings):
    settings.ADMIN_COUNT_CAP = CAP

    response, counts = _list(admin_client)

    # One count, bounded: it reads at most 202 rows.
    assert len(counts) == 1 and "LIMIT 202" in counts[0], counts
    cl = response.context["cl"]
    html = response.content.decode()
    if connection.vendor == "postgresql":
        assert cl.result_count == ROWS  # the planner's estimate, fresh after ANALYZE
        assert f"about {ROWS} orders" in html
    else:
        assert cl.result_count == 201  # no estimate on SQLite: capped, and said so
        assert "more than 201 orders" in html
    assert len(cl.result_list) == 100  # the first page
    assert 'class="showall"' not in html


def test_the_order_list_still_pages_to_its_last_rows(admin_client, orders, settings):
    settings.ADMIN_COUNT_CAP = 1000  # exact below the cap

    response, counts = _list(admin_client, p=3)

    assert len(counts) == 1 and "LIMIT 1001" in counts[0]
    assert response.context["cl"].result_count == ROWS
    shown = [o.client_order_id for o in response.context["cl"].result_list]
    assert shown == [f"bulk{n:06d}" for n in range(49, -1, -1)]  # the oldest 50
    assert f"{ROWS} orders" in response.content.decode()


def test_a_filtered_order_list_counts_only_up_to_the_cap(admin_client, orders, settings):
    settings.ADMIN_COUNT_CAP = CAP

    response, counts = _list(admin_client, status__exact="filled")  # 225 rows

    assert len(counts) == 1 and "LIMIT 202" in counts[0], counts
    cl = response.context["cl"]
    assert cl.result_count == 201 and cl.paginator.count_is_capped
    assert {o.status for o in cl.result_list} == {"filled"}
    assert len(cl.result_list) == 100
    assert "more than 201 orders" in response.content.decode()


def _fill(n: int) -> None:
    exchanges = make_exchange("nobitex"), make_exchange("invex")
    market = make_market("BTC", "IRR")
    user = get_user_model().objects.get(username="boss")
    kind = ContentType.objects.get_for_model(Order)
    for i in range(n):
        opportunity = make_opportunity(market=market, buy=exchanges[0], sell=exchanges[1],
                                       quantity=Decimal("1"), buy_price=Decimal("100"),
                                       sell_price=Decimal("101"), status="done")
        order = make_order(exchange=exchanges[i % 2], market=market, opportunity=opportunity)
        order_transition(order_id=order.pk, to_status=OrderState.OPEN, source="executor",
                         exchange_order_id=f"EX-{order.pk}")
        make_trade(order=order)
        LogEntry.objects.create(user=user, content_type=kind, object_id=str(order.pk),
                                object_repr=str(order), action_flag=CHANGE,
                                change_message="noted. Reason: test")


@pytest.mark.parametrize("model", ["order", "trade", "opportunity", "orderevent", "logentry"])
def test_a_list_page_runs_as_many_queries_for_sixty_rows_as_for_five(admin_client, model):
    app = "admin" if model == "logentry" else "trading"
    url = reverse(f"admin:{app}_{model}_changelist")
    _fill(5)
    admin_client.get(url)  # caches warmed (content types, display names)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    _fill(55)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).status_code == 200

    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert not [q for q in many.captured_queries if "DISTINCT" in q["sql"].upper()]


@on_postgres
@pytest.mark.parametrize("params", [{}, {"status__exact": "unknown"}, {"purpose__exact": "unwind"},
                                    {"is_external__exact": "1"}])
def test_an_order_list_page_is_read_from_an_index(admin_client, orders, params):
    # The list's own query for a page, as the admin runs it.
    response = admin_client.get(reverse("admin:trading_order_changelist"), params)
    queryset = response.context["cl"].queryset[:100]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: judge the indexes
        plan = queryset.explain()

    assert "Seq Scan on trading_order" not in plan, plan
    # No full sort (an incremental sort of ties on a presorted key is fine).
    assert not re.search(r"(^|->\s+)Sort\s+\(", plan, re.MULTILINE), plan
