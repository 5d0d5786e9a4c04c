"""The reference beside every pipeline figure: one Celery hop through the same
Redis, to the same worker, measured in the same run (``arbsite.bench_hop``, a
task that only records how long its message took to start running).

A shared machine's load comes and goes: ``HopMeter.sample()`` is called between
the pipeline's own samples, so the hop is measured under the same conditions."""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from arbsite.bench.registry import percentile
from arbsite.redis import key, redis_client


class HopMeter:
    def __init__(self, *, queue: str | None = None) -> None:
        self.queue = queue or settings.CELERY_TRADING_QUEUE
        self.list_key = key("bench", "hops", uuid.uuid4().hex[:8])
        self.samples: list[float] = []

    def sample(self) -> float:
        """One hop, in ms (after the previous one ran)."""
        from arbsite.celery import bench_hop

        client = redis_client()
        bench_hop.apply_async(args=(time.time(), self.list_key), queue=self.queue)
        answer = client.blpop([self.list_key], timeout=10)
        if answer is None:
            raise RuntimeError("no worker ran the bench's hop within 10 s")
        self.samples.append(float(answer[1]) * 1000)
        return self.samples[-1]

    def summary(self) -> dict[str, float]:
        redis_client().delete(self.list_key)
        if not self.samples:
            return {}
        return {"p50_ms": round(percentile(self.samples, 0.5), 3),
                "p99_ms": round(percentile(self.samples, 0.99), 3), "count": len(self.samples)}


def hops_measure(*, count: int = 50, queue: str | None = None) -> dict[str, float]:
    """p50 and p99 (ms) of ``count`` hops sent one at a time."""
    meter = HopMeter(queue=queue)
    for _ in range(count):
        meter.sample()
        time.sleep(0.005)
    return meter.summary()
