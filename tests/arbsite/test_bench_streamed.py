"""The streamed benches, in quick mode: message-to-orders with its stages, book age
at decision streamed and polled, the streamer's cost; each beside one Celery hop.
Figures are printed, never asserted (a loaded machine makes any timing fail)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.slow  # a sandbox, a worker and a stream_books process


def _figures(name: str) -> dict[str, dict]:
    out = StringIO()
    call_command("bench", "--json", "--only", name, stdout=out)
    return {f["name"]: f for f in json.loads(out.getvalue())}


def test_message_to_orders_and_book_age_in_quick_mode(settings):
    settings.BENCH_QUICK = True

    figures = _figures("message-to-orders")

    hop = figures["one Celery hop (reference) p50"]
    assert hop["value"] > 0 and hop["unit"] == "ms"
    p50 = figures["p50"]
    assert p50["value"] > 0 and "books from stream" in p50["note"]
    assert figures["p50 in hops"]["goal"] == "≤ 10" and figures["p99 in hops"]["goal"] == "≤ 30"
    for stage in ("sandbox change→streamer receipt", "receipt→opportunity row", "row→claim",
                  "claim→both received"):
        assert f"stage {stage} p50" in figures
    assert figures["streamed: age at decision p50"]["value"] > 0
    assert figures["polled: age at decision p50"]["value"] > 0


def test_the_streamers_cost_in_quick_mode(settings):
    settings.BENCH_QUICK = True
    settings.BENCH_STREAMER_SECONDS = 4

    figures = _figures("streamer-cost")

    cpu = figures["CPU (one core = 100%)"]
    assert cpu["value"] > 0 and "3 exchanges × 20 markets" in cpu["note"]
    assert figures["RSS at start"]["value"] > 0 and figures["RSS at end"]["value"] > 0
    assert "RSS end − start" in figures
