"""Demo credentials for the sandbox: one env file the app and the sandbox both read."""

from __future__ import annotations

import secrets
from pathlib import Path

from .accounts import SandboxAccount
from .signing import new_key_pair, public_key_of

KEYS = ("NOBITEX_API_TOKEN", "WALLEX_API_KEY", "INVEX_API_KEY", "INVEX_PRIVATE_KEY")


def _read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def ensure_credentials_file(path: str | Path) -> dict[str, str]:
    """Read the demo credentials from ``path``; create the file (mode 600) when missing.

    Keys missing from an existing file are generated and appended, so an old file keeps
    working after a new key is added here.
    """
    path = Path(path)
    values = _read_env(path) if path.exists() else {}
    missing = {}
    if "NOBITEX_API_TOKEN" not in values:
        missing["NOBITEX_API_TOKEN"] = secrets.token_hex(20)
    if "WALLEX_API_KEY" not in values:
        missing["WALLEX_API_KEY"] = secrets.token_urlsafe(32)
    if "INVEX_API_KEY" not in values:
        missing["INVEX_API_KEY"] = secrets.token_hex(16)
    if "INVEX_PRIVATE_KEY" not in values:
        missing["INVEX_PRIVATE_KEY"], _ = new_key_pair()
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "" if path.exists() else "# Demo credentials for the offline exchange sandbox.\n"
        with path.open("a") as fh:
            fh.write(header + "".join(f"{k}={v}\n" for k, v in missing.items()))
        path.chmod(0o600)
        values.update(missing)
    return {k: values[k] for k in KEYS}


def demo_accounts(creds: dict[str, str]) -> list[SandboxAccount]:
    """One account per exchange for the demo credentials, with default balances."""
    return [
        SandboxAccount("nobitex", creds["NOBITEX_API_TOKEN"]),
        SandboxAccount("wallex", creds["WALLEX_API_KEY"]),
        SandboxAccount(
            "invex", creds["INVEX_API_KEY"],
            public_key_hex=public_key_of(creds["INVEX_PRIVATE_KEY"]),
        ),
    ]
