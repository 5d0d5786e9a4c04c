"""A sandbox on a free port and thin HTTP clients that speak each exchange's wire format.

The clients are deliberately naive (no adapters): the tests pin the wire format itself,
as the exchanges' docs describe it. Each test says which doc section it follows.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from exchanges.sandbox import SandboxAccount, SandboxServer
from exchanges.sandbox.signing import expire_at, new_key_pair, sign

NOBITEX_TOKEN = "nobitex-test-token"
WALLEX_KEY = "wallex-test-key"
INVEX_KEY = "invex-test-key"

BALANCES = {
    "nobitex": {"rls": Decimal("100000000000"), "btc": Decimal("1"), "usdt": Decimal("1000")},
    "wallex": {"TMN": Decimal("10000000000"), "BTC": Decimal("1"), "USDT": Decimal("1000")},
    "invex": {"IRR": Decimal("100000000000"), "BTC": Decimal("1"), "USDT": Decimal("1000")},
}


@pytest.fixture(scope="session")
def invex_keys() -> tuple[str, str]:
    return new_key_pair()


def make_server(invex_public: str, **kwargs) -> SandboxServer:
    kwargs.setdefault("scenario", "static")
    kwargs.setdefault("rate_limits", False)
    kwargs.setdefault("invex_cancel_delay", 0.2)
    kwargs.setdefault("seed", 7)
    accounts = [
        SandboxAccount("nobitex", NOBITEX_TOKEN, balances=dict(BALANCES["nobitex"])),
        SandboxAccount("wallex", WALLEX_KEY, balances=dict(BALANCES["wallex"])),
        SandboxAccount("invex", INVEX_KEY, public_key_hex=invex_public,
                       balances=dict(BALANCES["invex"])),
    ]
    return SandboxServer(accounts=accounts, **kwargs)


@pytest.fixture
def sandbox(invex_keys):
    with make_server(invex_keys[1]) as server:
        yield server


class NobitexClient:
    def __init__(self, base: str, token: str = NOBITEX_TOKEN) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.session.headers["User-Agent"] = "TraderBot/arbsite-tests"

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=5)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=5)

    def place(self, **body) -> requests.Response:
        body.setdefault("srcCurrency", "btc")
        body.setdefault("dstCurrency", "rls")
        body.setdefault("pro", "yes")  # tests place identical orders; DuplicateOrder apart
        return self.post("/market/orders/add", body)


class WallexClient:
    def __init__(self, base: str, key: str = WALLEX_KEY) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=5)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=5)

    def delete(self, path: str, **params) -> requests.Response:
        return self.session.delete(self.base + path, params=params, timeout=5)

    def place(self, **body) -> requests.Response:
        body.setdefault("symbol", "BTCTMN")
        body.setdefault("type", "LIMIT")
        return self.post("/v1/account/orders", body)


class InvexClient:
    """Signs as the official examples do (``examples/create_order.py``): ``expire_at`` is
    local Tehran time, ``json.dumps(params)`` with default separators is signed, the POST
    body is ``json.dumps`` of the parameters with the signature appended."""

    def __init__(self, base: str, private_key: str, key: str = INVEX_KEY, *,
                 fmt: str = "official", zone: str = "tehran") -> None:
        self.base = base
        self.private_key = private_key
        self.fmt, self.zone = fmt, zone
        self.session = requests.Session()
        self.session.headers["X-API-Key-Invex"] = key

    def signed(self, params: dict, *, private_key: str | None = None,
               expires: str | None = None) -> dict:
        params = {k: v if isinstance(v, str) else str(v) for k, v in params.items()}
        params["expire_at"] = expires or expire_at(60, zone=self.zone)
        params["signature"] = sign(params, private_key or self.private_key, self.fmt)
        return params

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.base + path, params=self.signed(params), timeout=5)

    def public(self, path: str, **params) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=5)

    def post(self, path: str, body: dict, **sign_kwargs) -> requests.Response:
        return self.session.post(self.base + path, data=json.dumps(self.signed(body,
                                                                               **sign_kwargs)),
                                 timeout=5)

    def delete(self, path: str, **params) -> requests.Response:
        return self.session.delete(self.base + path, params=self.signed(params), timeout=5)

    def place(self, **body) -> requests.Response:
        order = {"quantity": body.pop("quantity", "0.01"), "price": body.pop("price", None),
                 "symbol": body.pop("symbol", "BTC_IRR"), "side": body.pop("side", "BUYER"),
                 "type": body.pop("type", "LIMIT")}
        order = {k: v for k, v in order.items() if v is not None}
        order.update(body)
        return self.post("/orders", order)


@pytest.fixture
def nobitex(sandbox) -> NobitexClient:
    return NobitexClient(sandbox.base_url("nobitex"))


@pytest.fixture
def wallex(sandbox) -> WallexClient:
    return WallexClient(sandbox.base_url("wallex"))


@pytest.fixture
def invex(sandbox, invex_keys) -> InvexClient:
    return InvexClient(sandbox.base_url("invex"), invex_keys[0])


def balances(sandbox: SandboxServer, exchange: str) -> dict[str, dict[str, Decimal]]:
    """An account's balances from the control API, as Decimals."""
    account = sandbox.state()["exchanges"][exchange]["accounts"][0]
    return {
        cur: {k: Decimal(v) for k, v in b.items()} for cur, b in account["balances"].items()
    }
