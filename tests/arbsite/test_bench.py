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
    assert figures["cycle / single request"]["value"] < 3  # concurrent, not 15×
    assert figures["single request (median)"]["value"] >= 20


def test_unknown_bench():
    with pytest.raises(CommandError, match="unknown benchmark"):
        call_command("bench", "--only", "nope", stdout=StringIO())
