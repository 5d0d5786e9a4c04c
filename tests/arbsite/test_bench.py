"""The bench command runs its registry and prints a table or JSON."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_bench_json():
    out = StringIO()
    call_command("bench", "--json", "--only", "books", "--cycles", "3", "--latency-ms", "20",
                 stdout=out)
    figures = {f["name"]: f for f in json.loads(out.getvalue())}
    assert figures["failed fetches"]["value"] == 0
    # A figure beside its reference, printed with its goal; never asserted (a loaded
    # machine makes any timing fail): STYLE.md "Timings are never asserted".
    ratio = figures["cycle / single request"]
    assert ratio["value"] > 0 and ratio["unit"] == "×" and ratio["goal"]
    assert figures["single request (median)"]["value"] >= 20  # the injected latency


def test_unknown_bench():
    with pytest.raises(CommandError, match="unknown benchmark"):
        call_command("bench", "--only", "nope", stdout=StringIO())


def test_the_admin_bench_times_its_pages_on_a_database_of_its_own(transactional_db):
    from django.db import connection

    from trading.models import Order

    out = StringIO()
    call_command("bench", "--json", "--only", "admin", "--orders", "300", "--cycles", "2",
                 stdout=out)

    figures = {f["name"]: f for f in json.loads(out.getvalue())}
    for page in ("order list", "control panel", "reference: password form"):
        for suffix in ("p50", "p99", ", 20 clients at once p50"):
            name = f"{page} {suffix}" if suffix[0] == "p" else f"{page}{suffix}"
            assert figures[name]["value"] > 0 and figures[name]["unit"] == "ms"
    assert figures["order list p50"]["goal"] == "≤ 300"
    assert "300 orders" in figures["order list p50"]["note"]
    # Its rows went to its own database, dropped after the run.
    assert not Order.objects.exists()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                           ["%_bench_admin"])
            assert cursor.fetchone()[0] == 0
