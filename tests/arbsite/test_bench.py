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
