"""The README's first command, as a new user runs it: ./run.sh brings up web, worker,
beat and the sandbox on SQLite and the pipeline trades; a process that dies comes back
(the README's drill: kill the worker, run recover_orders, trading resumes); Ctrl-C stops
the web, worker and beat before the sandbox; a restart on the same database keeps
trading (the sandbox's ids do not repeat); ./run.sh reset wipes the demo."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
TRADED = ("done", "partial")  # both legs filled; an unwound opportunity is not trading

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


def _traded(db: Path, since_id: int = 0) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            marks = ",".join("?" * len(TRADED))
            return conn.execute(
                f"select count(*) from trading_opportunity where status in ({marks})"  # noqa: S608
                " and id > ?", (*TRADED, since_id)).fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet, or locked for a moment
        return 0


def _traded_on_streamed_books(db: Path) -> int:
    """Opportunities traded with at least one leg decided on a streamed book."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            marks = ",".join("?" * len(TRADED))
            return conn.execute(
                f"select count(*) from trading_opportunity where status in ({marks})"  # noqa: S608
                " and 'stream' in (buy_book_source, sell_book_source)", TRADED).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _streams(port: str) -> dict:
    """The streams as /healthz shows them (the control panel reads the same selector)."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return json.loads(answer.read()).get("streams", {})
    except urllib.error.HTTPError as exc:  # 503 while it cannot trade: same body
        return json.loads(exc.read()).get("streams", {})
    except (OSError, ValueError):
        return {}


def _control_panel(port: str, login: str) -> str:
    """The control panel's page, logged in as run.sh's admin (var/admin-login.txt)."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    user, password = login.split()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    page = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": user, "password": password,
                                   "csrfmiddlewaretoken": token, "next": "/admin/control/"})
    request = urllib.request.Request(f"{base}/admin/login/", data=form.encode(),
                                     headers={"Referer": f"{base}/admin/login/"})
    return opener.open(request, timeout=10).read().decode()


def _last_opportunity(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute("select coalesce(max(id), 0) from trading_opportunity").fetchone()[0]


class RunSh:
    """One ./run.sh in a copy of the checkout, its output in a file."""

    def __init__(self, copy: Path, env: dict[str, str], log: Path) -> None:
        self.copy, self.env, self.log_path = copy, env, log
        self.db = copy / "var" / "arbsite.sqlite3"
        self.log = open(log, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["./run.sh"], cwd=copy, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, what, timeout: float = 180) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if what():
                return True
            time.sleep(1)
        return bool(what())

    def pid(self, name: str) -> int:
        return int((self.copy / "var" / "pids" / f"{name}.pid").read_text())

    def by_hand(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", f"set -a; . var/demo.env; set +a; {command}"],
                              cwd=self.copy, env=self.env, capture_output=True, text=True,
                              timeout=180)

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C reaches the foreground group
        try:
            self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def leftovers(self) -> str:
        time.sleep(1)
        return subprocess.run(["pgrep", "-af", str(self.copy)], capture_output=True,
                              text=True).stdout.strip()


@pytest.fixture
def demo(tmp_path):
    copy = _checkout_copy(tmp_path)
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "DEBUG", "ARBSITE_IGNORE_DOTENV", "EXCHANGE_RATE_LIMITS",
                        "NOBITEX_API_TOKEN", "WALLEX_API_KEY", "INVEX_API_KEY",
                        "DJANGO_SETTINGS_MODULE", "CELERY_QUEUE"}}
    # SANDBOX_VARIANTS, when set, picks the sandbox's readings of the docs' open points
    # (none: the literal ones).
    env.update({"PORT": str(_free_port()), "SANDBOX_PORT": str(_free_port()),
                "SANDBOX_SCENARIO": "spready", "CELERY_QUEUE": f"run-sh-{os.getpid()}",
                "REDIS_KEY_PREFIX": f"arbsite-run-sh-{os.getpid()}"})
    runs: list[RunSh] = []

    def start() -> RunSh:
        run = RunSh(copy, env, tmp_path / "run.log")
        runs.append(run)
        return run

    yield copy, env, start
    for run in runs:
        if run.proc.poll() is None:
            run.ctrl_c()


def test_run_sh_trades_survives_a_killed_worker_and_stops_in_order(demo):
    copy, env, start = demo
    run = start()
    try:
        traded = run.wait_for(lambda: _traded(run.db) >= 1)
        assert "created admin user: admin / " in run.output()
        assert "exchanges: the offline sandbox" in run.output()
        assert traded, run.output()[-6000:]

        # The streamer runs under run.sh, its streams connected, and trading
        # uses the books it pushes (recorded per decision).
        assert run.pid("streamer") and run.pid("trader")
        assert run.wait_for(lambda: all(
            s["connected"] and s["last_message_age_seconds"] is not None
            for s in _streams(env["PORT"]).values()) and len(_streams(env["PORT"])) == 2,
            timeout=60), (_streams(env["PORT"]), (copy / "var" / "streamer.log").read_text())
        assert run.wait_for(lambda: _traded_on_streamed_books(run.db) >= 1), (
            run.output()[-3000:], (copy / "var" / "streamer.log").read_text()[-3000:])
        # ... visibly so on the control panel: both streams connected with the age
        # of their last message, and decisions taken on streamed books
        panel = _control_panel(env["PORT"], (copy / "var" / "admin-login.txt").read_text())
        streams = panel[panel.index('id="streams"'):panel.index('id="decisions-by-source"')]
        assert streams.count("<td>connected") == 2, streams
        assert "no active streamer" not in streams and " ago" in streams, streams
        decisions = panel[panel.index('id="decisions-by-source"'):panel.index('id="pnl"')]
        assert "<td>stream</td>" in decisions, decisions

        # The README's drill: kill the worker, run recover_orders, trading resumes.
        worker = run.pid("worker")
        os.kill(worker, signal.SIGKILL)
        assert run.wait_for(lambda: re.search(r"worker restarted \(pid (\d+)\)", run.output()),
                            timeout=60), run.output()[-3000:]
        assert f"worker (pid {worker}) stopped (killed by signal 9)" in run.output()
        assert run.pid("worker") != worker
        by_hand = run.by_hand(".venv/bin/python manage.py recover_orders")
        assert "exchange  checked" in by_hand.stdout, by_hand.stdout + by_hand.stderr
        assert "no API credentials" not in by_hand.stdout + by_hand.stderr
        mark = _last_opportunity(run.db)
        assert run.wait_for(lambda: _traded(run.db, mark) >= 1), run.output()[-6000:]
    finally:
        run.ctrl_c()
    output = run.output()
    stops = [line.split("stopping ")[1] for line in output.splitlines()
             if "[run.sh]" in line and "stopping " in line and "(signal)" not in line]
    assert stops.index("worker") < stops.index("sandbox"), stops
    assert stops.index("web") < stops.index("sandbox") and "beat" in stops
    assert stops.index("streamer") < stops.index("sandbox") and "trader" in stops
    assert "stream_books stopped." in (copy / "var" / "streamer.log").read_text()
    assert run.leftovers() == ""


def test_restart_after_ctrl_c_keeps_trading_then_reset_wipes_the_demo(demo):
    copy, env, start = demo
    first = start()
    try:
        assert first.wait_for(lambda: _traded(first.db) >= 1), first.output()[-6000:]
    finally:
        first.ctrl_c()
    mark = _last_opportunity(first.db)
    state = copy / "var" / "sandbox-state.json"
    assert state.exists()

    second = start()
    try:
        assert second.wait_for(lambda: _traded(second.db, mark) >= 1), second.output()[-6000:]
        # refused while it runs, and nothing was touched
        refused = subprocess.run(["./run.sh", "reset", "--yes"], cwd=copy, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "refusing to reset while arbsite runs" in (
            refused.stdout + refused.stderr)
        assert state.exists() and second.db.exists()
    finally:
        second.ctrl_c()
    assert "IntegrityError" not in second.output()
    assert second.leftovers() == ""

    client = redis.Redis.from_url(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = env["REDIS_KEY_PREFIX"]
    client.set(f"{prefix}:reset-probe", "1")
    client.set(f"{prefix}-other:reset-probe", "1")  # another deployment's: kept
    try:
        unconfirmed = subprocess.run(["./run.sh", "reset"], cwd=copy, env=env,
                                     stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                     timeout=120)
        assert unconfirmed.returncode != 0 and "--yes" in unconfirmed.stdout + unconfirmed.stderr
        assert state.exists()
        reset = subprocess.run(["./run.sh", "reset", "--yes"], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=120)
        assert reset.returncode == 0, reset.stdout + reset.stderr
        assert "this wipes:" in reset.stdout and "reset done" in reset.stdout
        assert not state.exists() and not (copy / "var" / "arbsite.sqlite3").exists()
        assert not client.exists(f"{prefix}:reset-probe")
        assert client.exists(f"{prefix}-other:reset-probe")
        assert (copy / "var" / "sandbox.env").exists()  # the demo credentials stay
    finally:
        client.delete(f"{prefix}-other:reset-probe", f"{prefix}:reset-probe")
