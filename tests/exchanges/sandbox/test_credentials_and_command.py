"""Demo credentials file and the run_sandbox command as a subprocess."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from exchanges.sandbox import SandboxServer
from exchanges.sandbox.credentials import demo_accounts, ensure_credentials_file
from exchanges.sandbox.signing import expire_at, sign

ROOT = Path(__file__).resolve().parents[3]


def test_credentials_file_is_created_once_and_read_back(tmp_path):
    path = tmp_path / "var" / "sandbox.env"
    first = ensure_credentials_file(path)
    assert set(first) == {"NOBITEX_API_TOKEN", "WALLEX_API_KEY", "INVEX_API_KEY",
                          "INVEX_PRIVATE_KEY"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ensure_credentials_file(path) == first
    accounts = demo_accounts(first)
    assert [a.exchange for a in accounts] == ["nobitex", "wallex", "invex"]
    with SandboxServer(scenario="static", accounts=accounts, rate_limits=False) as server:
        params = {"currency": "IRR", "expire_at": expire_at()}
        params["signature"] = sign(params, first["INVEX_PRIVATE_KEY"])
        resp = requests.get(server.base_url("invex") + "/accounts", params=params,
                            headers={"X-API-Key-Invex": first["INVEX_API_KEY"]}, timeout=5)
        assert resp.status_code == 200 and resp.json()["currency"] == "IRR"


def test_run_sandbox_command_serves_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "DEBUG": "true", "PYTHONUNBUFFERED": "1"}
    creds = tmp_path / "sandbox.env"
    with subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", "0", "--scenario", "static",
         "--seed", "1", "--credentials", str(creds)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as proc:
        try:
            urls = {}
            for line in proc.stdout:
                if "_BASE_URL=" in line:
                    name, _, url = line.strip().partition("=")
                    urls[name] = url
                if len(urls) == 3:
                    break
            assert urls["WALLEX_BASE_URL"].endswith("/wallex")
            assert urls["INVEX_BASE_URL"].endswith("/invex/trading/v1")
            book = requests.get(urls["NOBITEX_BASE_URL"] + "/v3/orderbook/BTCIRT", timeout=5)
            assert book.json()["status"] == "ok"
            token = ensure_credentials_file(creds)["NOBITEX_API_TOKEN"]
            wallets = requests.get(urls["NOBITEX_BASE_URL"] + "/users/wallets/list",
                                   headers={"Authorization": f"Token {token}"}, timeout=5)
            assert wallets.status_code == 200
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=10)
            assert proc.returncode == 0
            assert "Sandbox stopped." in output
        finally:
            if proc.poll() is None:
                proc.kill()


def _serve(tmp_path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "true", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", "0", "--scenario", "static",
         "--credentials", str(tmp_path / "sandbox.env"), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _base_urls(proc: subprocess.Popen) -> tuple[dict[str, str], str]:
    """The base URLs the sandbox printed, and everything it printed until then."""
    urls, seen = {}, []
    for line in proc.stdout:
        seen.append(line)
        if "_BASE_URL=" in line:
            name, _, url = line.strip().partition("=")
            urls[name] = url
        if len(urls) == 3:
            return urls, "".join(seen)
    raise AssertionError("the sandbox printed no base URLs: " + "".join(seen))


def test_run_sandbox_keeps_state_across_restarts_and_takes_variants(tmp_path):
    state = tmp_path / "state.json"
    ids = []
    for run in range(2):
        with _serve(tmp_path, "--state", str(state), "--variant", "wallex-client-id=lax",
                    "--variant", "nobitex-not-found=drf") as proc:
            try:
                urls, banner = _base_urls(proc)
                assert "wallex-client-id=lax" in banner
                assert ("restored from" if run else "new, kept in") in banner
                token = ensure_credentials_file(tmp_path / "sandbox.env")["NOBITEX_API_TOKEN"]
                headers = {"Authorization": f"Token {token}"}
                order = requests.post(urls["NOBITEX_BASE_URL"] + "/market/orders/add", json={
                    "type": "buy", "srcCurrency": "btc", "dstCurrency": "rls",
                    "amount": "0.01", "price": "99000000000", "clientOrderId": f"r{run}",
                }, headers=headers, timeout=5).json()["order"]
                ids.append(order["id"])
                listed = requests.get(urls["NOBITEX_BASE_URL"] + "/market/orders/list",
                                      params={"details": 2}, headers=headers, timeout=5)
                assert sorted(r["id"] for r in listed.json()["orders"]) == ids
                missing = requests.post(urls["NOBITEX_BASE_URL"] + "/market/orders/status",
                                        json={"clientOrderId": "nope"}, headers=headers,
                                        timeout=5)
                assert missing.status_code == 404  # the drf variant
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=10)
                assert proc.returncode == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
    assert ids[1] > ids[0]


def test_run_sandbox_refuses_a_bad_variant_or_state_file(tmp_path):
    bad = _serve(tmp_path, "--variant", "invex-signing=sorted")
    out, _ = bad.communicate(timeout=30)
    assert bad.returncode != 0 and "invex-signing has no value 'sorted'" in out
    state = tmp_path / "broken.json"
    state.write_text("{")
    broken = _serve(tmp_path, "--state", str(state))
    out, _ = broken.communicate(timeout=30)
    assert broken.returncode != 0 and "unreadable" in out and "run.sh reset" in out
