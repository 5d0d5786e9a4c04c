"""Real background processes for integration tests: a Celery worker on the
real Redis broker, sharing the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from arbsite.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The URL of the database this test run uses (the test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "arbsite.settings",
        "ARBSITE_IGNORE_DOTENV": "1",
        "DEBUG": "true",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
    })
    env.update(extra)
    return env


@contextmanager
def celery_worker(*, queue: str | None = None, concurrency: int = 1, name: str | None = None,
                  log_path: Path | None = None, pool: str = "prefork",
                  **env: str) -> Iterator[subprocess.Popen]:
    """Start ``celery -A arbsite worker`` on its own queue; stop it on exit.

    ``pool="solo"`` runs tasks in the worker's main process, so a task that
    kills itself takes the whole worker down, as a crash would."""
    queue = queue or f"test-{uuid.uuid4().hex[:8]}"
    hostname = f"{name or 'test'}-{uuid.uuid4().hex[:6]}@localhost"
    log = open(log_path or os.devnull, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "arbsite", "worker", "--loglevel=INFO",
         f"--concurrency={concurrency}", f"--pool={pool}",
         # its queue and that queue's trading queue (CELERY_TRADING_QUEUE's default)
         "-Q", f"{queue},{queue}-trading", "-n", hostname,
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=process_env(CELERY_QUEUE=queue, **env), stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(hostname, proc)
        proc.queue = queue  # type: ignore[attr-defined]
        proc.log_path = log_path  # type: ignore[attr-defined]
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _wait_ready(hostname: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode} before it was ready")
        replies = celery_app.control.ping(destination=[hostname], timeout=0.5)
        if replies:
            return
    raise RuntimeError(f"celery worker {hostname} not ready after {timeout}s")


@contextmanager
def celery_beat(*, queue: str, log_path: Path, **env: str) -> Iterator[subprocess.Popen]:
    """Start ``celery -A arbsite beat`` sending to ``queue``; stop it on exit
    (SIGTERM, as ``run.sh`` does) unless it already stopped."""
    log = open(log_path, "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "arbsite", "beat", "--loglevel=INFO",
         "--pidfile=", "--max-interval=1"],
        cwd=ROOT, env=process_env(CELERY_QUEUE=queue, **env), stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        log.close()


@contextmanager
def sandbox_process(*, port: int, stream_port: int, credentials: Path, state: Path,
                    log_path: Path, scenario: str = "spready",
                    seed: int = 7) -> Iterator[subprocess.Popen]:
    """``manage.py run_sandbox`` as ``run.sh`` starts it (its state in ``state``),
    answering on ``port`` before this yields; stopped (SIGTERM) on exit."""
    import urllib.request

    log = open(log_path, "a")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", str(port), "--credentials",
         str(credentials), "--state", str(state), "--scenario", scenario, "--seed", str(seed),
         "--stream-port", str(stream_port)],
        cwd=ROOT, env=process_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {proc.returncode}: "
                                   f"{log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/state", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield proc
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop ``proc`` with ``sig`` (KILL after ``timeout``), if it still runs."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
