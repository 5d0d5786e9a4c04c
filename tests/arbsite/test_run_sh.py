"""The README's first command, as a new user runs it: ./run.sh brings up web,
worker, beat and the sandbox on SQLite, and the pipeline trades within a
minute or two; Ctrl-C stops everything."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXECUTED = ("done", "partial", "unwound")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _checkout_copy(tmp_path: Path) -> Path:
    """The working tree without its state (.env, var/), sharing .venv."""
    copy = tmp_path / "arbsite"
    shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", "var", ".env", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"))
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def _executed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            marks = ",".join("?" * len(EXECUTED))
            return conn.execute(
                f"select count(*) from trading_opportunity where status in ({marks})",  # noqa: S608
                EXECUTED).fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet, or locked for a moment
        return 0


def test_run_sh_trades_against_the_sandbox_and_stops_on_ctrl_c(tmp_path):
    copy = _checkout_copy(tmp_path)
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "DEBUG", "ARBSITE_IGNORE_DOTENV", "EXCHANGE_RATE_LIMITS",
                        "NOBITEX_API_TOKEN", "WALLEX_API_KEY", "INVEX_API_KEY",
                        "DJANGO_SETTINGS_MODULE", "CELERY_QUEUE"}}
    env.update({"PORT": str(_free_port()), "SANDBOX_PORT": str(_free_port()),
                "SANDBOX_SCENARIO": "spready", "CELERY_QUEUE": f"run-sh-{os.getpid()}",
                "REDIS_KEY_PREFIX": f"arbsite-run-sh-{os.getpid()}"})
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["./run.sh"], cwd=copy, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    db = copy / "var" / "arbsite.sqlite3"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and _executed(db) < 1 and proc.poll() is None:
            time.sleep(1)
        executed = _executed(db)
        # An operator's command by hand reaches the same sandbox (var/demo.env)
        by_hand = subprocess.run(
            ["bash", "-c", "set -a; . var/demo.env; set +a; "
                           ".venv/bin/python manage.py recover_orders --dry-run"],
            cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "created admin user: admin / " in output
    assert "exchanges: the offline sandbox" in output
    assert executed >= 1, output[-6000:]
    assert "exchange  checked" in by_hand.stdout, by_hand.stdout + by_hand.stderr
    assert "no API credentials" not in by_hand.stdout + by_hand.stderr
    # Ctrl-C stopped everything it started
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", str(copy)], capture_output=True, text=True).stdout
    assert left.strip() == "", left
