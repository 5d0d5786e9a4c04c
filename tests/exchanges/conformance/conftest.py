"""Fixtures of the conformance tests: a sandbox of this package alone (its
variants are switched between runs), and the three exchanges configured in
the database against it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from exchanges.registry import clear_cache
from tests.exchanges.conftest import KEYS, exchanges_point_at, sandbox_accounts  # noqa: F401


@pytest.fixture(scope="package")
def conformance_server(invex_keys):
    from exchanges.sandbox import SandboxServer

    server = SandboxServer(scenario="static", seed=5, accounts=sandbox_accounts(invex_keys),
                           rate_limits=False,
                           invex_cancel_delay=0.05, hang_seconds=2.0).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(conformance_server):
    """The package's sandbox, fresh: defaults, no faults, no orders."""
    conformance_server.world.variants.reset()
    conformance_server.reset()
    yield conformance_server
    conformance_server.clear_faults()
    conformance_server.world.variants.reset()


def exchanges_on(sandbox, invex_keys) -> None:
    """The three exchanges and their listings, pointed at ``sandbox``."""
    exchanges_point_at(sandbox, invex_keys)


@pytest.fixture
def configured(db, sandbox, invex_keys):
    exchanges_on(sandbox, invex_keys)
    yield sandbox
    clear_cache()


def conformance(name: str, *args: str) -> tuple[int, str, str]:
    """``manage.py exchange NAME conformance ARGS``: (exit code, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("exchange", name, "conformance", *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()
