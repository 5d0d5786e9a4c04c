"""Report pages: access, the figures on the page, CSV equal to the page,
drill-down into the admin."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from freezegun import freeze_time

from tests.reports.conftest import NOW

QUERY = {"period": "custom", "from": "2025-03-08", "to": "2025-03-10"}


@pytest.fixture
def reader(client, viewer):
    client.force_login(viewer)
    return client


def page_table(html: str, key: str) -> list[list[str]]:
    """The cells of one table on a page, header first, separators removed."""
    match = re.search(rf'<table data-table="{key}">(.*?)</table>', html, re.S)
    assert match, f"no table {key}"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([unescape(re.sub(r"<[^>]+>", "", c)).replace(",", "").strip()
                     for c in cells])
    return rows


def csv_table(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("url", ["/reports/", "/reports/days/", "/reports/csv/days/"])
def test_anonymous_users_are_sent_to_login(client, db, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_user_without_the_view_permission_is_refused(client, db):
    client.force_login(User.objects.create_user("nobody", is_staff=True))

    assert client.get("/reports/").status_code == 403


def test_a_superuser_reads_the_reports(client, db):
    client.force_login(User.objects.create_superuser("boss", password="pw-boss-1234"))

    assert client.get("/reports/").status_code == 200


def test_overview_shows_the_figures(reader, history):
    with freeze_time(NOW):
        response = reader.get("/reports/", QUERY)

    html = response.content.decode()
    assert response.status_code == 200
    summary = {row[0]: row[1:] for row in page_table(html, "summary")}
    assert summary["Realized P&L (after fees)"] == ["-8404000", "21.4500"]
    assert summary["Median per round trip"] == ["-3934500", "21.4500"]
    assert summary["Win rate %"] == ["50.00", "100.00"]
    assert summary["Max drawdown (daily)"] == ["16364000", "0.0000"]
    assert "-8,404,000" in html  # the headline card, with separators
    assert html.count("<svg") >= 8  # four charts for each quote
    assert "cdn" not in html.lower() and "<script" not in html


@pytest.mark.parametrize("key", ["days", "markets", "pairs"])
def test_every_table_page_matches_its_csv(reader, history, key):
    with freeze_time(NOW):
        page = reader.get(f"/reports/{key}/", QUERY)
        export = reader.get(f"/reports/csv/{key}/", QUERY)

    assert export["Content-Type"].startswith("text/csv")
    assert page_table(page.content.decode(), key) == csv_table(export)


@pytest.mark.parametrize("key", ["summary", "fees", "problems"])
def test_overview_tables_match_their_csv(reader, history, key):
    with freeze_time(NOW):
        page = reader.get("/reports/", QUERY)
        export = reader.get(f"/reports/csv/{key}/", QUERY)

    assert page_table(page.content.decode(), key) == csv_table(export)


def test_by_day_csv_figures(reader, history, closed_snapshots):
    with freeze_time(NOW):
        rows = csv_table(reader.get("/reports/csv/days/", QUERY))

    assert rows[0][:5] == ["Day", "Source", "Realized P&L rial (after fees)", "Fees rial",
                           "Volume rial"]
    assert rows[1][:5] == ["2025-03-10", "live", "-16364000", "18364000", "9182000000"]
    assert rows[2][:5] == ["2025-03-09", "snapshot", "7960000", "12040000", "6020000000"]
    assert rows[-1][:3] == ["Total", "", "-8404000"]


def test_drill_down_from_a_market_row_into_the_admin(client, history):
    client.force_login(User.objects.create_superuser("boss", password="pw-boss-1234"))
    with freeze_time(NOW):
        html = client.get("/reports/markets/", QUERY).content.decode()
    link = unescape(re.search(r'<a href="(/admin/trading/opportunity/\?[^"]+)">BTC-IRR',
                              html).group(1))

    admin = client.get(link)

    assert admin.status_code == 200
    assert admin.context["cl"].result_count == 4  # O1, O2, O3, O4; not O7 (before)


def test_a_bad_period_falls_back_with_a_message(reader, db):
    response = reader.get("/reports/", {"period": "custom", "from": "2025-02-30"})

    assert response.status_code == 200
    assert "YYYY-MM-DD" in response.content.decode()


def test_the_combined_figure_says_its_rate(reader, history):
    with freeze_time(NOW):
        html = reader.get("/reports/", {**QUERY, "convert": "1"}).content.decode()

    assert "902500 IRR per USDT" in html
    assert "10,954,625" in html  # −8,404,000 + 21.45 × 902,500
