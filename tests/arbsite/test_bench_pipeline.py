"""The tick-to-trade bench's child runs with production settings."""

from __future__ import annotations

import subprocess
import sys

from cryptography.fernet import Fernet

from trading.bench_pipeline import ROOT, bench_env


def test_the_bench_child_runs_with_production_settings(tmp_path):
    env = bench_env(database_url=f"sqlite:///{tmp_path / 'bench.sqlite3'}")

    assert env["DEBUG"] == "false"
    assert len(env["SECRET_KEY"]) >= 50
    Fernet(env["FIELD_ENCRYPTION_KEY"].encode())  # a valid key
    assert env["REDIS_KEY_PREFIX"].startswith("arbsite-bench-")
    assert bench_env(database_url="sqlite://")["SECRET_KEY"] != env["SECRET_KEY"]

    # Django starts with them (a missing secret would stop it with DEBUG off)
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.conf import settings; print(settings.DEBUG, bool(settings.ALLOWED_HOSTS))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip().splitlines()[-1].split() == ["False", "True"]
