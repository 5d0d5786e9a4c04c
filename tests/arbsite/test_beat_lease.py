"""One beat at a time, with two real beat processes (as on two hosts: each
its own pidfile and schedule file): the second is refused and says why;
a beat stopped releases its lease; a beat SIGKILLed leaves it to expire;
a beat whose lease was taken over stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from arbsite.redis import key, redis_client
from tests.processes import ROOT, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = "4"


class Beat:
    def __init__(self, tmp: Path, name: str, queue: str) -> None:
        self.log_path = tmp / f"beat-{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "arbsite", "beat", "--loglevel=INFO",
             f"--pidfile={tmp / f'beat-{name}.pid'}", f"--schedule={tmp / f'beat-{name}.db'}"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env=process_env(CELERY_QUEUE=queue, BEAT_LEASE_SECONDS=LEASE_SECONDS))

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_started(self, timeout: float = 60) -> None:
        """Until it schedules: its lease taken (or, without one, a while after start)."""
        deadline = time.monotonic() + timeout
        started_at = None
        while True:
            assert self.proc.poll() is None, f"beat exited early:\n{self.log[-3000:]}"
            assert time.monotonic() < deadline, f"beat never started:\n{self.log[-3000:]}"
            if "beat: Starting..." in self.log:
                started_at = started_at or time.monotonic()
                lease = _lease()
                if lease and lease["pid"] == self.proc.pid or time.monotonic() - started_at > 5:
                    return
            time.sleep(0.1)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _lease() -> dict | None:
    raw = redis_client().get(key("beat", "lease"))
    return json.loads(raw) if raw else None


@pytest.fixture
def beats(tmp_path):
    queue = f"beat-{uuid.uuid4().hex[:8]}"
    started: list[Beat] = []

    def start(name: str) -> Beat:
        beat = Beat(tmp_path, name, queue)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop(signal.SIGKILL)
    redis_client().delete(queue)


def test_a_second_beat_is_refused_and_says_which_one_runs(beats):
    first = beats("a")
    first.wait_started()

    second = beats("b")
    code = second.wait_exit(timeout=45)

    assert code is not None, "a second beat kept running beside the first"
    assert code != 0
    assert "Another beat is running" in second.log
    assert f"pid {first.proc.pid}" in second.log
    assert first.proc.poll() is None and _lease()["pid"] == first.proc.pid

    from arbsite.beat import beat_lease_status

    assert "refused" in beat_lease_status()


def test_a_stopped_beat_releases_its_lease_and_a_killed_one_lets_it_expire(beats):
    first = beats("a")
    first.wait_started()
    first.stop(signal.SIGTERM)
    assert _lease() is None  # released at shutdown

    second = beats("b")
    second.wait_started()  # at once, not after the TTL
    second.stop(signal.SIGKILL)
    assert _lease()["pid"] == second.proc.pid  # a dead beat's lease stays a while...

    third = beats("c")
    assert third.wait_exit(timeout=45) not in (None, 0)
    time.sleep(float(LEASE_SECONDS) + 1)  # ...until it expires
    fourth = beats("d")
    fourth.wait_started()
    assert _lease()["pid"] == fourth.proc.pid


def test_a_beat_whose_lease_was_taken_over_stops(beats):
    first = beats("a")
    first.wait_started()
    # Another beat took the lease over (as after this one stalled past the TTL).
    redis_client().set(key("beat", "lease"), json.dumps(
        {"token": "someone-else", "host": "other-host", "pid": 1, "since": "now"}))
    assert first.wait_exit(timeout=30) is not None, "the replaced beat kept scheduling"
    assert "taken over by another beat" in first.log
