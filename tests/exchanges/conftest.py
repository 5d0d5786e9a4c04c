"""Fixtures of the exchange-layer tests: adapters built without the database,
a canned transport for golden tests, and Invex key pairs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from exchanges.catalog import default_listing
from exchanges.interface import AdapterConfig, ExchangeAdapter
from exchanges.markets import MarketSpec
from exchanges.registry import build_adapter

MARKETS = ("BTC-IRR", "ETH-IRR", "USDT-IRR", "BTC-USDT", "ETH-USDT")
NOBITEX_TOKEN = "nobitex-token-0123456789abcdef"
WALLEX_KEY = "wallex-key-0123456789abcdef"
INVEX_KEY = "invex-key-0123456789abcdef"


def specs_for(kind: str, markets: tuple[str, ...] = MARKETS) -> dict[str, MarketSpec]:
    out = {}
    for code in markets:
        base, quote = code.split("-")
        d = default_listing(kind, base, quote)
        out[code] = MarketSpec(code, d.symbol, d.price_scale, d.amount_step, d.price_tick,
                               d.min_order_value)
    return out


def make_adapter(
    kind: str, base_url: str = "http://canned.invalid", *, api_key: str | None = None,
    api_secret: str = "", **config: Any,
) -> ExchangeAdapter:
    keys = {"nobitex": NOBITEX_TOKEN, "wallex": WALLEX_KEY, "invex": INVEX_KEY}
    config.setdefault("retry_backoff", 0.01)
    config.setdefault("read_timeout", 5.0)
    return build_adapter(kind, AdapterConfig(
        name=config.pop("name", kind), base_url=base_url,
        api_key=keys[kind] if api_key is None else api_key, api_secret=api_secret,
        markets=config.pop("markets", specs_for(kind)), **config,
    ))


@dataclass
class Canned(BaseAdapter):
    """A requests transport answering from a script: (status, body[, headers])
    tuples, exceptions to raise, or a callable of the PreparedRequest."""

    answers: list[Any]
    sent: list[requests.PreparedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Callable) and not isinstance(answer, type):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        status, body, *rest = answer
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(rest[0] if rest else {})
        text = body if isinstance(body, str) else json.dumps(body)
        response._content = text.encode()
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass

    def body(self, index: int = -1) -> Any:
        return json.loads(self.sent[index].body)


@pytest.fixture
def canned() -> Callable[..., Canned]:
    def install(adapter: ExchangeAdapter, *answers: Any) -> Canned:
        transport = Canned(list(answers))
        adapter.http.session.mount("http://", transport)
        adapter.http.session.mount("https://", transport)
        return transport

    return install


@pytest.fixture
def replay():
    """A local HTTP server replaying scripted answers (``tests.exchanges.replay``)."""
    from tests.exchanges.replay import ReplayServer

    server = ReplayServer()
    yield server
    server.close()


@pytest.fixture
def replay_adapter(replay, invex_keys):
    """``replay_adapter("nobitex", **config)``: an adapter pointed at ``replay``."""
    built: list[ExchangeAdapter] = []

    def build(kind: str, **config: Any) -> ExchangeAdapter:
        if kind == "invex":
            config.setdefault("api_secret", invex_keys[0])
        config.setdefault("read_retries", 0)
        adapter = make_adapter(kind, replay.url, **config)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


@pytest.fixture(scope="session")
def invex_keys() -> tuple[str, str]:
    """(private hex DER, public hex DER) of a fresh RSA key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()).hex()
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()
    return private, public


# -- the sandbox, over real HTTP ---------------------------------------------------

SANDBOX_BALANCES = {
    "nobitex": {"rls": "100000000000", "btc": "1", "eth": "10", "usdt": "1000"},
    "wallex": {"TMN": "10000000000", "BTC": "1", "ETH": "10", "USDT": "1000"},
    "invex": {"IRR": "100000000000", "BTC": "1", "ETH": "10", "USDT": "1000"},
}


KEYS = {"nobitex": NOBITEX_TOKEN, "wallex": WALLEX_KEY, "invex": INVEX_KEY}


def sandbox_accounts(invex_keys: tuple[str, str]) -> list:
    """The three test accounts (the keys above, the balances below)."""
    from exchanges.sandbox import SandboxAccount

    return [
        SandboxAccount("nobitex", NOBITEX_TOKEN, balances=dict(SANDBOX_BALANCES["nobitex"])),
        SandboxAccount("wallex", WALLEX_KEY, balances=dict(SANDBOX_BALANCES["wallex"])),
        SandboxAccount("invex", INVEX_KEY, public_key_hex=invex_keys[1],
                       balances=dict(SANDBOX_BALANCES["invex"])),
    ]


def exchanges_point_at(sandbox: Any, invex_keys: tuple[str, str]) -> None:
    """The three exchange rows and their listings in the database, pointed at
    ``sandbox`` with the test accounts' keys (breakers reset, adapters rebuilt)."""
    from exchanges.breaker import breaker_reset
    from exchanges.models import Exchange, ExchangeMarket, Market
    from exchanges.registry import clear_cache

    for kind, key in KEYS.items():
        exchange = Exchange.objects.create(
            name=kind, adapter=kind, base_url=sandbox.base_url(kind), api_key=key,
            api_secret=invex_keys[0] if kind == "invex" else "",
        )
        for code in MARKETS:
            base, quote = code.split("-")
            market, _ = Market.objects.get_or_create(base=base, quote=quote)
            d = default_listing(kind, base, quote)
            ExchangeMarket.objects.create(
                exchange=exchange, market=market, symbol=d.symbol, price_scale=d.price_scale,
                amount_step=d.amount_step, price_tick=d.price_tick,
                min_order_value=d.min_order_value,
            )
        breaker_reset(kind)
    clear_cache()


@pytest.fixture(scope="session")
def sandbox_server(invex_keys):
    from exchanges.sandbox import SandboxServer

    server = SandboxServer(scenario="static", seed=11, accounts=sandbox_accounts(invex_keys),
                           rate_limits=False,
                           invex_cancel_delay=0.05, hang_seconds=3.0).start()
    yield server
    server.stop()


@pytest.fixture
def shared_sandbox(sandbox_server):
    """The session's shared sandbox, fresh: books, orders and balances reset,
    no faults. (The sandbox's own tests use a private ``sandbox`` each.)"""
    sandbox_server.reset()
    sandbox_server.world.variants.reset()  # the docs' most literal readings
    yield sandbox_server
    sandbox_server.clear_faults()
    sandbox_server.world.variants.reset()


@pytest.fixture
def sandbox_adapter(shared_sandbox, invex_keys):
    """``sandbox_adapter("wallex", **config)``: an adapter pointed at the sandbox."""
    built: list[ExchangeAdapter] = []

    def build(kind: str, **config: Any) -> ExchangeAdapter:
        if kind == "invex":
            config.setdefault("api_secret", invex_keys[0])
        adapter = make_adapter(kind, shared_sandbox.base_url(kind), **config)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


@pytest.fixture
def redis_prefix(redis_namespace):
    """A key prefix of this test alone, its keys deleted afterwards."""
    import uuid

    from arbsite.redis import redis_client

    prefix = f"{redis_namespace}:{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis_client()
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
