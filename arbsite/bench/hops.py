"""The reference beside every pipeline figure: one Celery hop through the same
Redis, to the same worker, measured in the same run (``arbsite.bench_hop``, a
task that only records how long its message took to start running)."""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from arbsite.bench.registry import percentile
from arbsite.redis import key, redis_client


def hops_measure(*, count: int = 50, queue: str | None = None) -> dict[str, float]:
    """p50 and p99 (ms) of ``count`` hops sent one at a time, each after the
    previous one ran, on the trading queue unless ``queue`` is given."""
    from arbsite.celery import bench_hop

    list_key = key("bench", "hops", uuid.uuid4().hex[:8])
    client = redis_client()
    samples: list[float] = []
    try:
        for _ in range(count):
            bench_hop.apply_async(args=(time.time(), list_key),
                                  queue=queue or settings.CELERY_TRADING_QUEUE)
            answer = client.blpop([list_key], timeout=10)
            if answer is None:
                raise RuntimeError("no worker ran the bench's hop within 10 s")
            samples.append(float(answer[1]) * 1000)
            time.sleep(0.005)
    finally:
        client.delete(list_key)
    return {"p50_ms": round(percentile(samples, 0.5), 3),
            "p99_ms": round(percentile(samples, 0.99), 3), "count": len(samples)}
