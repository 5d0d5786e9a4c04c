"""A Redis blip does not kill the worker: a real worker (as run.sh starts
it) on a Redis of this test's own, with a task in flight, Redis SIGKILLed
and started again, twice. The worker reconnects, the task in flight
finishes exactly once, and tasks sent afterwards run."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery

from tests.celery_probe import TABLE, probe_events, probe_table_create
from tests.processes import ROOT, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own (no persistence), to kill and restart."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not answer")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@contextmanager
def worker_on(redis: PrivateRedis, tmp: Path, queue: str) -> Iterator[subprocess.Popen]:
    """``celery worker`` as run.sh starts it (prefork, 4 processes, gossip and
    mingle on), plus the probe task, on the private Redis."""
    hostname = f"blip-{uuid.uuid4().hex[:6]}@localhost"
    log = open(tmp / "worker.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "arbsite", "worker", "--loglevel=INFO",
         "--concurrency=4", "--include", "tests.celery_probe", "-Q", queue, "-n", hostname],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env=process_env(REDIS_URL=redis.url, CELERY_QUEUE=queue,
                        ARBSITE_STARTUP_RECOVERY="0"))
    app = Celery("blip-test", broker=redis.url, set_as_current=False)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            assert proc.poll() is None, (tmp / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker never became ready"
        proc.app = app  # type: ignore[attr-defined]
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        app.close()


def _wait_for(predicate, *, seconds: float, what: str, worker: subprocess.Popen, tmp: Path):
    deadline = time.monotonic() + seconds
    while not predicate():
        if worker.poll() is not None:
            pytest.fail(f"the worker died (exit {worker.returncode}) waiting for {what}:\n"
                        + (tmp / "worker.log").read_text()[-4000:])
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n"
                        + (tmp / "worker.log").read_text()[-4000:])
        time.sleep(0.1)


@pytest.fixture
def probe_table(db):
    probe_table_create()
    yield
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_the_worker_survives_redis_restarts_and_runs_each_task_once(tmp_path, probe_table):
    redis = PrivateRedis(tmp_path)
    redis.start()
    queue = f"blip-{uuid.uuid4().hex[:8]}"
    try:
        with worker_on(redis, tmp_path, queue) as worker:
            def send(run_id: str, seconds: float) -> None:
                worker.app.send_task("tests.probe_run", args=[run_id, seconds], queue=queue)

            def ran(run_id: str, *events: str):
                return lambda: probe_events(run_id) == list(events)

            for blip in (1, 2):
                # Given a task in flight.
                send(f"in-flight-{blip}", 6)
                _wait_for(ran(f"in-flight-{blip}", "start"), seconds=30, worker=worker,
                          tmp=tmp_path, what="the task to start")

                # When Redis dies and comes back a few seconds later.
                redis.kill()
                time.sleep(3)
                redis.start()

                # Then the task in flight finishes, once, and the worker lives on...
                _wait_for(ran(f"in-flight-{blip}", "start", "done"), seconds=30,
                          worker=worker, tmp=tmp_path, what="the task in flight to finish")
                # ...and takes new tasks from the restarted Redis.
                send(f"after-{blip}", 0.2)
                _wait_for(ran(f"after-{blip}", "start", "done"), seconds=60, worker=worker,
                          tmp=tmp_path, what="a task sent after the restart")

            time.sleep(2)  # nothing runs again
            for blip in (1, 2):
                assert probe_events(f"in-flight-{blip}") == ["start", "done"]
                assert probe_events(f"after-{blip}") == ["start", "done"]
            assert worker.poll() is None
        assert "Unrecoverable error" not in (tmp_path / "worker.log").read_text()
    finally:
        redis.kill()
